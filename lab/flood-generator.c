/*
 * The handshake-flood generator's sending loop (lab/flood.ts builds it and the packets): sends the
 * datagrams of PACKET_FILE (records of RECORD_LENGTH bytes, made elsewhere) round-robin to TARGET at
 * RATE per second for SECONDS, from SOURCES sockets with their own source ports (a source's cookie is
 * its own), with sendmmsg in small batches paced every millisecond, on THREADS threads. Written in C so that offering
 * 200,000 datagrams a second costs the generator little more than the kernel's own send path.
 *
 *   flood-generator TARGET_IPV4 PORT RATE SECONDS SOURCES RECORD_LENGTH PACKET_FILE
 *
 * Prints one JSON line: {"attempted":N,"sent":N,"seconds":S,"rate":R,"cpuSeconds":C} where sent
 * counts what the kernel accepted (a full send buffer loses datagrams, as a wire would) and cpuSeconds
 * is the generator's own user+system time.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 32
/* One per core of the machine it was written for: two scheduler shares on a busy shared host. */
#define THREADS 2
#define MAX_SOURCES 1024
#define MAX_SECONDS 60
#define TICK_NS 1000000L

static double seconds_since(const struct timespec *start) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

static void fail(const char *what) {
  fprintf(stderr, "flood-generator: %s: %s\n", what, errno ? strerror(errno) : "invalid argument");
  exit(1);
}

static unsigned char *read_packets(const char *path, long record, long *count) {
  FILE *file = fopen(path, "rb");
  if (!file) fail(path);
  if (fseek(file, 0, SEEK_END) != 0) fail(path);
  long size = ftell(file);
  rewind(file);
  if (size < record || size % record != 0) {
    errno = 0;
    fail("packet file length is not a multiple of the record length");
  }
  unsigned char *data = malloc((size_t)size);
  if (!data || fread(data, 1, (size_t)size, file) != (size_t)size) fail(path);
  fclose(file);
  *count = size / record;
  return data;
}

/* One sending thread's share of the flood: its own sockets, rate and counters. */
struct sender {
  pthread_t thread;
  const unsigned char *data;
  long record, packets, next_packet;
  int fds[MAX_SOURCES];
  int sources;
  double rate, duration;
  struct timespec start;
  uint64_t attempted, sent;
};

static void *send_loop(void *argument) {
  struct sender *s = argument;
  struct mmsghdr messages[BATCH];
  struct iovec vectors[BATCH];
  memset(messages, 0, sizeof messages);
  for (int i = 0; i < BATCH; i++) {
    messages[i].msg_hdr.msg_iov = &vectors[i];
    messages[i].msg_hdr.msg_iovlen = 1;
    vectors[i].iov_len = (size_t)s->record;
  }
  struct timespec tick = s->start;
  int source = 0;
  for (;;) {
    double elapsed = seconds_since(&s->start);
    if (elapsed >= s->duration) break;
    uint64_t due = (uint64_t)(s->rate * elapsed);
    while (s->attempted < due) {
      unsigned int count = due - s->attempted < BATCH ? (unsigned int)(due - s->attempted) : BATCH;
      for (unsigned int i = 0; i < count; i++) {
        vectors[i].iov_base = (void *)(s->data + s->next_packet * s->record);
        s->next_packet = (s->next_packet + 1) % s->packets;
      }
      int accepted = sendmmsg(s->fds[source], messages, count, MSG_DONTWAIT);
      if (accepted > 0) s->sent += (uint64_t)accepted;
      s->attempted += count;
      source = (source + 1) % s->sources;
    }
    tick.tv_nsec += TICK_NS;
    if (tick.tv_nsec >= 1000000000L) {
      tick.tv_sec++;
      tick.tv_nsec -= 1000000000L;
    }
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &tick, NULL);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 8) {
    fprintf(stderr, "usage: flood-generator TARGET_IPV4 PORT RATE SECONDS SOURCES RECORD_LENGTH PACKET_FILE\n");
    return 2;
  }
  struct sockaddr_in target = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[2]))};
  errno = 0;
  if (inet_pton(AF_INET, argv[1], &target.sin_addr) != 1) fail("TARGET_IPV4");
  double rate = atof(argv[3]);
  double duration = atof(argv[4]);
  int sources = atoi(argv[5]);
  long record = atol(argv[6]);
  if (rate <= 0) fail("RATE");
  if (duration <= 0) fail("SECONDS");
  if (duration > MAX_SECONDS) duration = MAX_SECONDS;
  if (sources < THREADS || sources > MAX_SOURCES) fail("SOURCES (2..1024)");
  if (record < 1 || record > 65507) fail("RECORD_LENGTH");
  long packets;
  unsigned char *data = read_packets(argv[7], record, &packets);

  struct sender senders[THREADS];
  memset(senders, 0, sizeof senders);
  struct timespec start;
  clock_gettime(CLOCK_MONOTONIC, &start);
  for (int t = 0; t < THREADS; t++) {
    struct sender *s = &senders[t];
    s->data = data;
    s->record = record;
    s->packets = packets;
    s->next_packet = t * packets / THREADS;
    s->sources = sources / THREADS;
    s->rate = rate / THREADS;
    s->duration = duration;
    s->start = start;
    for (int i = 0; i < s->sources; i++) {
      s->fds[i] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
      if (s->fds[i] < 0) fail("socket");
      /* Replies to the flood are counted in the namespace's UDP MIB; the sockets need not keep them. */
      int small = 4096;
      setsockopt(s->fds[i], SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
      if (connect(s->fds[i], (struct sockaddr *)&target, sizeof target) != 0) fail("connect");
    }
  }
  for (int t = 0; t < THREADS; t++) {
    errno = pthread_create(&senders[t].thread, NULL, send_loop, &senders[t]);
    if (errno) fail("pthread_create");
  }
  uint64_t attempted = 0, sent = 0;
  for (int t = 0; t < THREADS; t++) {
    pthread_join(senders[t].thread, NULL);
    attempted += senders[t].attempted;
    sent += senders[t].sent;
    for (int i = 0; i < senders[t].sources; i++) close(senders[t].fds[i]);
  }
  double taken = seconds_since(&start);
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  double cpu = (double)usage.ru_utime.tv_sec + (double)usage.ru_utime.tv_usec / 1e6 + (double)usage.ru_stime.tv_sec +
               (double)usage.ru_stime.tv_usec / 1e6;
  printf("{\"attempted\":%llu,\"sent\":%llu,\"seconds\":%.3f,\"rate\":%.0f,\"cpuSeconds\":%.3f}\n",
         (unsigned long long)attempted, (unsigned long long)sent, taken, (double)sent / taken, cpu);
  free(data);
  return 0;
}

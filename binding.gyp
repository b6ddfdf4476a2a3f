{
  "targets": [
    {
      "target_name": "wiremesh_io",
      "sources": ["agent/native/wiremesh_io.c", "agent/native/offload.c", "agent/native/aead_batch.c", "agent/native/blake2s.c", "agent/native/socket-backlog.c", "agent/native/cookie_batch.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}

{
  "targets": [
    {
      "target_name": "wiremesh_io",
      "sources": ["agent/native/wiremesh_io.c", "agent/native/offload.c", "agent/native/aead_batch.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}

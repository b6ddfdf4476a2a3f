{
  "targets": [
    {
      "target_name": "wiremesh_io",
      "sources": ["agent/native/wiremesh_io.c", "agent/native/offload.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}

{
  "targets": [
    {
      "target_name": "memfd_pool",
      "sources": [
        "native/src/addon.cc",
        "native/src/errors.cc",
        "native/src/memfd.cc",
        "native/src/mapping.cc",
        "native/src/channel.cc",
        "native/src/listener.cc",
        "native/src/file-limit.cc",
        "native/src/process.cc"
      ],
      # C++ exceptions on (node_addon_api_except): the addon throws Napi::Error from deep helpers
      # and relies on stack unwinding to run UniqueFd destructors, so a descriptor received or
      # created before an error is closed on that path too.
      "dependencies": ["<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter", "-O2"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}

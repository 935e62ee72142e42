{
  # kube-sbc media packet path: libsrtp binding + recvmmsg/sendmmsg relay worker (ADR 0040).
  # Build: npx node-gyp rebuild --directory media-pod/native --nodedir=$NODE_DIR (see README.md).
  "targets": [
    {
      "target_name": "kube_sbc_media",
      "sources": ["src/addon.c", "src/srtp.c", "src/ossl-srtp.c", "src/relay.c", "src/loadgen.c", "src/stun.c", "src/stun-napi.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-std=gnu11"],
      "libraries": ["-lsrtp2", "-lcrypto", "-lpthread"],
      "defines": ["NAPI_VERSION=8", "_GNU_SOURCE"]
    }
  ]
}

{
  "targets": [
    {
      "target_name": "dmsnet_tun",
      "sources": ["native/tun/tun.c", "native/tun/udp_gro.c", "native/crypto/xsalsa20.c", "native/crypto/keystream_ring.c", "native/crypto/aead.c", "native/mem/mem.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "defines": ["NAPI_VERSION=8"]
    }
  ]
}

#ifndef STRATA_COPENSSL_SHIM_H
#define STRATA_COPENSSL_SHIM_H

// The system's OpenSSL (Debian's libssl-dev, Homebrew's openssl@3), 1.1.1 or later:
// RedisStore's TLS. Swift cannot call the function-like macros of the API, so the few
// used are wrapped here.
#include <openssl/ssl.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

static inline long strata_SSL_set_tlsext_host_name(SSL *ssl, const char *name) {
    return SSL_set_tlsext_host_name(ssl, name);
}

static inline long strata_SSL_set_mode(SSL *ssl, long mode) {
    return SSL_set_mode(ssl, mode);
}

static inline long strata_SSL_CTX_set_min_proto_version(SSL_CTX *context, int version) {
    return SSL_CTX_set_min_proto_version(context, version);
}

static inline void strata_SSL_CTX_set_read_ahead(SSL_CTX *context, int on) {
    SSL_CTX_set_read_ahead(context, on);
}

static inline long strata_partial_write_modes(void) {
    return SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER;
}

#endif

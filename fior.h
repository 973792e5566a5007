/* fior.h - the C view of the Rust core's ABI (src/ffi.rs).
 *
 * Every function returns FIOR_OK, FIOR_FAIL (with *err filled in) or,
 * for calls on a client handle made in another process (after fork),
 * FIOR_FORKED. Nothing here ever longjmps or croaks. */
#ifndef FIOR_H
#define FIOR_H

#include <stddef.h>
#include <stdint.h>

#define FIOR_OK      0
#define FIOR_FAIL   -1
#define FIOR_FORKED -2

/* Error kinds (src/error.rs, mod kind). */
#define FIOR_ERR_CONNECTION   1
#define FIOR_ERR_TIMEOUT      2
#define FIOR_ERR_DISCONNECTED 3
#define FIOR_ERR_PROTOCOL     4
#define FIOR_ERR_REDIS        5
#define FIOR_ERR_INVALID      6
#define FIOR_ERR_INTERNAL     7

typedef struct fior_client fior_client;

typedef struct {
    int  kind;
    char message[512];
} fior_error;

typedef struct {
    const uint8_t *data;
    size_t         len;
    void          *owner;
} fior_batch;

int  fior_runtime_fd(int *fd_out, fior_error *err);
int  fior_client_new(uint64_t client_id, const uint8_t *const *ptrs,
                     const size_t *lens, size_t count, fior_client **out,
                     fior_error *err);
int  fior_client_connect(fior_client *h, uint64_t request_id, fior_error *err);
int  fior_client_command(fior_client *h, uint64_t request_id, double timeout,
                         const uint8_t *const *ptrs, const size_t *lens,
                         size_t count, fior_error *err);
int  fior_client_disconnect(fior_client *h, fior_error *err);
void fior_client_free(fior_client *h);
int  fior_drain(fior_batch *batch, fior_error *err);
void fior_batch_free(fior_batch *batch);

#endif

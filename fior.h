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

/* owner: the Perl interpreter (one per process may use the core). */
int  fior_runtime_fd(uint64_t owner, int *fd_out, fior_error *err);
int  fior_client_new(uint64_t owner, uint64_t client_id, const uint8_t *const *ptrs,
                     const size_t *lens, size_t count, fior_client **out,
                     fior_error *err);
/* Both give the request's id (unique in the process) in *id_out. */
int  fior_client_connect(fior_client *h, uint64_t *id_out, fior_error *err);
int  fior_client_command(fior_client *h, double timeout,
                         const uint8_t *const *ptrs, const size_t *lens,
                         size_t count, uint64_t *id_out, fior_error *err);
int  fior_client_batch(fior_client *h, double timeout, uint64_t pin,
                       const uint8_t *const *ptrs, const size_t *lens,
                       const size_t *counts, size_t ncmds, uint64_t *id_out,
                       fior_error *err);
int  fior_client_commands(fior_client *h, const uint8_t *const *ptrs,
                          const size_t *lens, const size_t *counts, size_t ncmds,
                          uint64_t *ids_out, fior_error *err);
int  fior_client_pubsub(fior_client *h, const uint8_t *const *ptrs,
                        const size_t *lens, size_t count, uint64_t *id_out,
                        fior_error *err);
void fior_client_free(fior_client *h);
int  fior_drain(uint64_t owner, fior_batch *batch, fior_error *err);
uint64_t fior_next_id(void);
void fior_release_owner(uint64_t owner);
void fior_batch_free(fior_batch *batch);

#endif

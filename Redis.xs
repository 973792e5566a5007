/* Redis.xs - thin glue between Perl and the Rust core (fior.h).
 *
 * It only moves data: Perl strings in as (pointer, length) pairs, encoded
 * completions out as Perl values. Anything that can croak (magic, bad
 * arguments) happens before the Rust core is entered, and the core never
 * calls back into Perl. */
#define PERL_NO_GET_CONTEXT
#include "EXTERN.h"
#include "perl.h"
#include "XSUB.h"

#include "fior.h"

/* The interpreter calling us: only one per process may use the core. */
#ifdef MULTIPLICITY
#  define FIOR_OWNER ((uint64_t)PTR2UV(my_perl))
#else
#  define FIOR_OWNER ((uint64_t)1)
#endif

/* A request accepted: (0, its id); else as FIOR_RETURN. */
#define FIOR_RETURN_ID(status, err, id)                                 \
    STMT_START {                                                        \
        if ((status) == FIOR_OK) {                                      \
            EXTEND(SP, 2);                                              \
            ST(0) = sv_2mortal(newSViv(FIOR_OK));                       \
            ST(1) = sv_2mortal(newSVuv((UV)(id)));                      \
            XSRETURN(2);                                                \
        }                                                               \
        FIOR_RETURN(status, err);                                       \
    } STMT_END

/* Deeper than src/resp.rs lets a reply nest (MAX_DEPTH). */
#define FIOR_MAX_DEPTH 1100

/* Arguments beyond this many use the heap. */
#define FIOR_STACK_ARGS 16

/* Status + error → the Perl return list: () on success, (status) for a
 * forked handle, (status, kind, message) on failure. */
#define FIOR_RETURN(status, err)                                        \
    STMT_START {                                                        \
        if ((status) == FIOR_OK) XSRETURN_EMPTY;                        \
        EXTEND(SP, 3);                                                  \
        ST(0) = sv_2mortal(newSViv(status));                            \
        if ((status) == FIOR_FORKED) XSRETURN(1);                       \
        ST(1) = sv_2mortal(newSViv((err).kind));                        \
        ST(2) = sv_2mortal(newSVpv((err).message, 0));                  \
        XSRETURN(3);                                                    \
    } STMT_END

typedef struct {
    const uint8_t *p;
    const uint8_t *end;
} reader;

static int read_u8(reader *r, uint8_t *out) {
    if (r->p >= r->end) return 0;
    *out = *r->p++;
    return 1;
}

static int read_u64(reader *r, uint64_t *out) {
    uint64_t v = 0;
    int i;
    if (r->end - r->p < 8) return 0;
    for (i = 7; i >= 0; i--) v = (v << 8) | r->p[i];
    r->p += 8;
    *out = v;
    return 1;
}

static int read_bytes(reader *r, uint64_t n, const uint8_t **out) {
    if ((uint64_t)(r->end - r->p) < n) return 0;
    *out = r->p;
    r->p += n;
    return 1;
}

static int read_str(pTHX_ reader *r, SV **out) {
    const uint8_t *bytes;
    uint32_t n = 0;
    int i;
    if (r->end - r->p < 4) return 0;
    for (i = 3; i >= 0; i--) n = (n << 8) | r->p[i];
    r->p += 4;
    if (!read_bytes(r, n, &bytes)) return 0;
    *out = newSVpvn((const char *)bytes, n);
    return 1;
}

/* A nested server error (EXEC, pipelines) becomes an Error::Redis object. */
static SV *redis_error_object(pTHX_ SV *code, SV *message) {
    HV *hv = newHV();
    (void)hv_stores(hv, "type", code);
    (void)hv_stores(hv, "message", message);
    return sv_bless(newRV_noinc((SV *)hv),
                    gv_stashpvs("Future::IO::Redis::Error::Redis", GV_ADD));
}

/* Decodes one value (see src/reply.rs); NULL on a malformed buffer. */
static SV *decode_value(pTHX_ reader *r, int depth) {
    uint8_t tag;
    uint64_t n, i;
    const uint8_t *bytes;
    if (depth > FIOR_MAX_DEPTH || !read_u8(r, &tag)) return NULL;
    switch (tag) {
    case '_':
        return newSV(0);
    case ':':
        if (!read_u64(r, &n)) return NULL;
        return newSViv((IV)(int64_t)n);
    case '$':
        if (!read_u64(r, &n) || !read_bytes(r, n, &bytes)) return NULL;
        return newSVpvn((const char *)bytes, (STRLEN)n);
    case ',': {
        /* A double as the server wrote it: the string is exact (an NV
         * prints only 15 digits), the number is there for arithmetic. */
        SV *sv;
        if (!read_u64(r, &n) || !read_bytes(r, n, &bytes)) return NULL;
        sv = newSVpvn((const char *)bytes, (STRLEN)n);
        SvUPGRADE(sv, SVt_PVNV);
        SvNV_set(sv, Atof(SvPVX(sv)));
        SvNOK_on(sv);
        return sv;
    }
    case '#': {
        uint8_t b;
        if (!read_u8(r, &b)) return NULL;
        return newSViv(b ? 1 : 0);
    }
    case '*': {
        AV *av;
        if (!read_u64(r, &n) || n > (uint64_t)(r->end - r->p)) return NULL;
        av = newAV();
        av_extend(av, n ? (SSize_t)n - 1 : 0);
        for (i = 0; i < n; i++) {
            SV *item = decode_value(aTHX_ r, depth + 1);
            if (!item) { SvREFCNT_dec((SV *)av); return NULL; }
            av_push(av, item);
        }
        return newRV_noinc((SV *)av);
    }
    case '%': {
        HV *hv;
        if (!read_u64(r, &n) || n > (uint64_t)(r->end - r->p)) return NULL;
        hv = newHV();
        for (i = 0; i < n; i++) {
            SV *key = decode_value(aTHX_ r, depth + 1);
            SV *val = key ? decode_value(aTHX_ r, depth + 1) : NULL;
            if (!val) {
                if (key) SvREFCNT_dec(key);
                SvREFCNT_dec((SV *)hv);
                return NULL;
            }
            (void)hv_store_ent(hv, key, val, 0);
            SvREFCNT_dec(key);
        }
        return newRV_noinc((SV *)hv);
    }
    case '-': {
        SV *code, *message;
        if (!read_str(aTHX_ r, &code)) return NULL;
        if (!read_str(aTHX_ r, &message)) { SvREFCNT_dec(code); return NULL; }
        return redis_error_object(aTHX_ code, message);
    }
    default:
        return NULL;
    }
}

/* An error record → [kind, maybe_executed, code, message]. */
static SV *decode_error(pTHX_ reader *r) {
    uint8_t kind, maybe;
    SV *code, *message;
    AV *av;
    if (!read_u8(r, &kind) || !read_u8(r, &maybe)) return NULL;
    if (!read_str(aTHX_ r, &code)) return NULL;
    if (!read_str(aTHX_ r, &message)) { SvREFCNT_dec(code); return NULL; }
    av = newAV();
    av_push(av, newSViv(kind));
    av_push(av, newSViv(maybe));
    av_push(av, code);
    av_push(av, message);
    return newRV_noinc((SV *)av);
}

/* True for an object whose class overloads stringification (as
 * overload::Method($obj, '""') finds it). SvAMAGIC alone is not enough: it
 * stays set on a class without overloading until Perl first looks. Level -1
 * leaves no cache entries in the class's stash. */
static int stringifies(pTHX_ SV *ref) {
    SV *obj = SvRV(ref);
    return SvOBJECT(obj) && SvSTASH(obj)
        && gv_fetchmeth_pvn(SvSTASH(obj), "(\"\"", 3, -1, 0) != NULL;
}

/* Collecting the byte view of arguments takes two passes. The first
 * (plain_args) runs every piece of user code (get-magic of tied scalars and
 * $1, string overloading) and copies those arguments into plain mortal
 * strings; only the second (arg_pointers) takes pointers, when nothing can
 * run any more. (A FETCH or overload of a later argument may free or move
 * the buffer of an earlier one, which was then sent from freed memory.) For
 * a batch, the first pass covers every command before any pointer is taken.
 *
 * Each returns -1 when all is well, else the index of the first argument
 * that is not a string (undef, a reference that does not stringify, an
 * empty command name) with *why saying which; nothing is sent then, so a
 * command never reaches the server half-written. A NULL slot (a hole in an
 * array) is undef. */
static SSize_t plain_args(pTHX_ SV **svs, size_t count, SV **plain, const char **why) {
    size_t i;
    for (i = 0; i < count; i++) {
        SV *sv = svs[i];
        if (!sv) { *why = "is undef"; return (SSize_t)i; }
        SvGETMAGIC(sv);
        if (!SvOK(sv)) { *why = "is undef"; return (SSize_t)i; }
        if (SvROK(sv) && !stringifies(aTHX_ sv)) {
            *why = "is a reference, not a string";
            return (SSize_t)i;
        }
        if (SvROK(sv) || SvGMAGICAL(sv)) {
            SV *copy = sv_newmortal();
            sv_copypv_nomg(copy, sv);
            sv = copy;
        }
        plain[i] = sv;
    }
    return -1;
}

static SSize_t arg_pointers(pTHX_ SV **plain, size_t count, const uint8_t **ptrs,
                            size_t *lens, const char **why) {
    size_t i;
    for (i = 0; i < count; i++) {
        STRLEN len;
        ptrs[i] = (const uint8_t *)SvPV_nomg(plain[i], len);
        lens[i] = len;
        if (i == 0 && len == 0) { *why = "is empty"; return 0; }
    }
    return -1;
}

static SSize_t collect_args(pTHX_ SV **svs, size_t count, const uint8_t **ptrs,
                            size_t *lens, const char **why) {
    SSize_t bad;
    SV **plain;
    Newx(plain, count + 1, SV *);
    SAVEFREEPV(plain);
    bad = plain_args(aTHX_ svs, count, plain, why);
    return bad >= 0 ? bad : arg_pointers(aTHX_ plain, count, ptrs, lens, why);
}

/* The commands of a batch: an array of arrays of words. */
typedef struct {
    size_t ncmds;
    size_t *counts;         /* words per command */
    const uint8_t **ptrs;   /* every word, command after command */
    size_t *lens;
} command_list;

/* Fills `list` from an array reference of commands. Returns -1, or the
 * index of the bad command with *arg the index of its bad word (-1 when
 * the command itself is not an array of words) and *why the reason.
 * The arrays must be plain (no tie: counting them must run no user code),
 * and every word is held by a reference of ours until the call ends, so
 * user code run for one word (a FETCH, an overload) cannot free another. */
static SSize_t collect_commands(pTHX_ SV *ref, command_list *list, SSize_t *arg,
                                const char **why) {
    AV *cmds;
    SV **svs, **plain;
    size_t i, total = 0, at = 0;
    SSize_t bad;
    *arg = -1;
    if (!SvROK(ref) || SvTYPE(SvRV(ref)) != SVt_PVAV)
        croak("Future::IO::Redis: internal error: commands must be an array reference");
    cmds = (AV *)SvRV(ref);
    if (SvRMAGICAL((SV *)cmds))
        croak("Future::IO::Redis: internal error: commands must be a plain array");
    list->ncmds = (size_t)(av_top_index(cmds) + 1);
    Newx(list->counts, list->ncmds + 1, size_t);
    SAVEFREEPV(list->counts);
    for (i = 0; i < list->ncmds; i++) {
        SV **cmd = av_fetch(cmds, (SSize_t)i, 0);
        if (!cmd || !SvROK(*cmd) || SvTYPE(SvRV(*cmd)) != SVt_PVAV
            || SvRMAGICAL(SvRV(*cmd))) {
            *why = "is not a plain array of words";
            return (SSize_t)i;
        }
        list->counts[i] = (size_t)(av_top_index((AV *)SvRV(*cmd)) + 1);
        if (list->counts[i] == 0) { *why = "is missing"; *arg = 0; return (SSize_t)i; }
        total += list->counts[i];
    }
    Newx(svs, total + 1, SV *);
    SAVEFREEPV(svs);
    Newx(plain, total + 1, SV *);
    SAVEFREEPV(plain);
    Newx(list->ptrs, total + 1, const uint8_t *);
    SAVEFREEPV(list->ptrs);
    Newx(list->lens, total + 1, size_t);
    SAVEFREEPV(list->lens);
    for (i = 0; i < list->ncmds; i++) {
        AV *cmd = (AV *)SvRV(*av_fetch(cmds, (SSize_t)i, 0));
        size_t j;
        for (j = 0; j < list->counts[i]; j++) {
            SV **word = av_fetch(cmd, (SSize_t)j, 0);
            svs[at + j] = word ? sv_2mortal(SvREFCNT_inc_simple_NN(*word)) : NULL;
        }
        at += list->counts[i];
    }
    /* First pass over every command, then the pointers. */
    for (i = 0, at = 0; i < 2; i++, at = 0) {
        size_t c;
        for (c = 0; c < list->ncmds; c++) {
            bad = i == 0
                ? plain_args(aTHX_ svs + at, list->counts[c], plain + at, why)
                : arg_pointers(aTHX_ plain + at, list->counts[c], list->ptrs + at,
                               list->lens + at, why);
            if (bad >= 0) { *arg = bad; return (SSize_t)c; }
            at += list->counts[c];
        }
    }
    return -1;
}

/* (status, kind, message, index of the bad command, index of its bad word) */
#define FIOR_RETURN_BAD_COMMAND(why, cmd, arg)                          \
    STMT_START {                                                        \
        EXTEND(SP, 5);                                                  \
        ST(0) = sv_2mortal(newSViv(FIOR_FAIL));                         \
        ST(1) = sv_2mortal(newSViv(FIOR_ERR_INVALID));                  \
        ST(2) = sv_2mortal(newSVpv((why), 0));                          \
        ST(3) = sv_2mortal(newSViv(cmd));                               \
        ST(4) = sv_2mortal(newSViv(arg));                               \
        XSRETURN(5);                                                    \
    } STMT_END

MODULE = Future::IO::Redis    PACKAGE = Future::IO::Redis::_XS

PROTOTYPES: DISABLE

void
runtime_fd()
  PREINIT:
    fior_error err;
    int fd = -1, status;
  PPCODE:
    status = fior_runtime_fd(FIOR_OWNER, &fd, &err);
    if (status != FIOR_OK) {
        EXTEND(SP, 3);
        PUSHs(sv_2mortal(newSViv(status)));
        PUSHs(sv_2mortal(newSViv(err.kind)));
        PUSHs(sv_2mortal(newSVpv(err.message, 0)));
        XSRETURN(3);
    }
    EXTEND(SP, 2);
    PUSHs(sv_2mortal(newSViv(FIOR_OK)));
    PUSHs(sv_2mortal(newSViv(fd)));

void
client_new(UV client_id, ...)
  PREINIT:
    fior_error err;
    fior_client *handle = NULL;
    const uint8_t **ptrs;
    size_t *lens;
    const char *why = NULL;
    int status;
    size_t count = items - 1;
  PPCODE:
    Newx(ptrs, count + 1, const uint8_t *);
    Newx(lens, count + 1, size_t);
    SAVEFREEPV(ptrs);
    SAVEFREEPV(lens);
    if (collect_args(aTHX_ &ST(1), count, ptrs, lens, &why) >= 0)
        croak("Future::IO::Redis: bad option value: it %s", why);
    status = fior_client_new(FIOR_OWNER, (uint64_t)client_id, ptrs, lens, count, &handle, &err);
    if (status != FIOR_OK) {
        EXTEND(SP, 3);
        PUSHs(sv_2mortal(newSViv(status)));
        PUSHs(sv_2mortal(newSViv(err.kind)));
        PUSHs(sv_2mortal(newSVpv(err.message, 0)));
        XSRETURN(3);
    }
    EXTEND(SP, 2);
    PUSHs(sv_2mortal(newSViv(FIOR_OK)));
    PUSHs(sv_2mortal(sv_setref_pv(newSV(0), "Future::IO::Redis::_Handle", (void *)handle)));

UV
next_id()
  CODE:
    RETVAL = (UV)fior_next_id();
  OUTPUT:
    RETVAL

void
release_owner()
  CODE:
    fior_release_owner(FIOR_OWNER);

void
drain()
  PREINIT:
    fior_error err;
    fior_batch batch;
    reader r;
    int status;
    AV *out;
    const char *broken = NULL;
  PPCODE:
    status = fior_drain(FIOR_OWNER, &batch, &err);
    if (status != FIOR_OK)
        croak("Future::IO::Redis: cannot drain completions: %s", err.message);
    out = newAV();
    r.p = batch.data;
    r.end = batch.data + batch.len;
    while (r.p < r.end) {
        uint8_t tag;
        uint64_t id;
        SV *payload = NULL;
        if (!read_u8(&r, &tag) || !read_u64(&r, &id)) { broken = "truncated record"; break; }
        if (tag == 'R') {
            payload = decode_value(aTHX_ &r, 0);
            tag = 1;
        } else if (tag == 'E') {
            payload = decode_error(aTHX_ &r);
            tag = 2;
        } else if (tag == 'P') {
            /* pub/sub traffic: the value (src/pubsub.rs) */
            payload = decode_value(aTHX_ &r, 0);
            tag = 5;
        } else if (tag == 'T') {
            /* the next record's time on the wire, in microseconds */
            uint64_t micros;
            if (read_u64(&r, &micros)) payload = newSVuv((UV)micros);
            tag = 6;
        } else if (tag == 'H') {
            /* a handshake's commands (observed clients) */
            payload = decode_value(aTHX_ &r, 0);
            tag = 7;
        } else if (tag == 'S') {
            /* [what, a, b]: a session change (src/completion.rs) */
            uint8_t what;
            SV *a = NULL, *b = NULL;
            if (read_u8(&r, &what) && read_str(aTHX_ &r, &a) && read_str(aTHX_ &r, &b)) {
                AV *av = newAV();
                av_push(av, newSViv(what));
                av_push(av, a);
                av_push(av, b);
                payload = newRV_noinc((SV *)av);
            } else if (a) {
                SvREFCNT_dec(a);
            }
            tag = 4;
        } else if (tag == 'V') {
            uint8_t event;
            if (read_u8(&r, &event)) {
                payload = decode_error(aTHX_ &r);
                if (payload) av_unshift((AV *)SvRV(payload), 1),
                    av_store((AV *)SvRV(payload), 0, newSViv(event));
            }
            tag = 3;
        }
        if (!payload) { broken = "malformed record"; break; }
        av_push(out, newSViv(tag));
        av_push(out, newSVuv((UV)id));
        av_push(out, payload);
    }
    fior_batch_free(&batch);
    if (broken) {
        SvREFCNT_dec((SV *)out);
        croak("Future::IO::Redis: internal error: %s in completion batch", broken);
    }
    EXTEND(SP, 1);
    PUSHs(sv_2mortal(newRV_noinc((SV *)out)));

MODULE = Future::IO::Redis    PACKAGE = Future::IO::Redis::_Handle

void
connect(fior_client *handle)
  PREINIT:
    fior_error err;
    int status;
    uint64_t id = 0;
  PPCODE:
    status = fior_client_connect(handle, &id, &err);
    FIOR_RETURN_ID(status, err, id);

void
command(fior_client *handle, NV timeout, ...)
  PREINIT:
    fior_error err;
    int status;
    uint64_t id = 0;
    const uint8_t *stack_ptrs[FIOR_STACK_ARGS];
    size_t stack_lens[FIOR_STACK_ARGS];
    const uint8_t **ptrs = stack_ptrs;
    size_t *lens = stack_lens;
    const char *why = NULL;
    SSize_t bad;
    size_t count = items - 2;
  PPCODE:
    if (count > FIOR_STACK_ARGS) {
        Newx(ptrs, count, const uint8_t *);
        Newx(lens, count, size_t);
        SAVEFREEPV(ptrs);
        SAVEFREEPV(lens);
    }
    if (count == 0) {
        bad = 0;
        why = "is missing";
    } else {
        bad = collect_args(aTHX_ &ST(2), count, ptrs, lens, &why);
    }
    if (bad >= 0) {
        /* (status, kind, message, index of the bad argument) */
        EXTEND(SP, 4);
        ST(0) = sv_2mortal(newSViv(FIOR_FAIL));
        ST(1) = sv_2mortal(newSViv(FIOR_ERR_INVALID));
        ST(2) = sv_2mortal(newSVpv(why, 0));
        ST(3) = sv_2mortal(newSViv(bad));
        XSRETURN(4);
    }
    status = fior_client_command(handle, (double)timeout, ptrs, lens, count, &id, &err);
    FIOR_RETURN_ID(status, err, id);

void
batch(fior_client *handle, NV timeout, UV pin, SV *commands)
  PREINIT:
    fior_error err;
    int status;
    uint64_t id = 0;
    command_list list;
    const char *why = NULL;
    SSize_t bad, arg;
  PPCODE:
    bad = collect_commands(aTHX_ commands, &list, &arg, &why);
    if (bad >= 0) FIOR_RETURN_BAD_COMMAND(why, bad, arg);
    if (list.ncmds == 0) FIOR_RETURN_BAD_COMMAND("is missing", 0, -1);
    status = fior_client_batch(handle, (double)timeout, (uint64_t)pin, list.ptrs, list.lens,
                               list.counts, list.ncmds, &id, &err);
    FIOR_RETURN_ID(status, err, id);

void
commands(fior_client *handle, SV *commands)
  PREINIT:
    fior_error err;
    int status;
    uint64_t *ids;
    command_list list;
    const char *why = NULL;
    SSize_t bad, arg;
    size_t i;
  PPCODE:
    /* (0, id, id ...) with one id per command, in order; or as batch */
    bad = collect_commands(aTHX_ commands, &list, &arg, &why);
    if (bad >= 0) FIOR_RETURN_BAD_COMMAND(why, bad, arg);
    Newx(ids, list.ncmds + 1, uint64_t);
    SAVEFREEPV(ids);
    status = fior_client_commands(handle, list.ptrs, list.lens, list.counts, list.ncmds,
                                  ids, &err);
    if (status != FIOR_OK) FIOR_RETURN(status, err);
    EXTEND(SP, (SSize_t)list.ncmds + 1);
    ST(0) = sv_2mortal(newSViv(FIOR_OK));
    for (i = 0; i < list.ncmds; i++)
        ST(i + 1) = sv_2mortal(newSVuv((UV)ids[i]));
    XSRETURN(list.ncmds + 1);

void
pubsub(fior_client *handle, ...)
  PREINIT:
    fior_error err;
    int status;
    uint64_t id = 0;
    const uint8_t *stack_ptrs[FIOR_STACK_ARGS];
    size_t stack_lens[FIOR_STACK_ARGS];
    const uint8_t **ptrs = stack_ptrs;
    size_t *lens = stack_lens;
    const char *why = NULL;
    SSize_t bad;
    size_t count = items - 1;
  PPCODE:
    /* (0, id), or (status, kind, message, index of a bad argument) */
    if (count > FIOR_STACK_ARGS) {
        Newx(ptrs, count, const uint8_t *);
        Newx(lens, count, size_t);
        SAVEFREEPV(ptrs);
        SAVEFREEPV(lens);
    }
    bad = count ? collect_args(aTHX_ &ST(1), count, ptrs, lens, &why) : 0;
    if (!count) why = "is missing";
    if (bad >= 0) {
        EXTEND(SP, 4);
        ST(0) = sv_2mortal(newSViv(FIOR_FAIL));
        ST(1) = sv_2mortal(newSViv(FIOR_ERR_INVALID));
        ST(2) = sv_2mortal(newSVpv(why, 0));
        ST(3) = sv_2mortal(newSViv(bad));
        XSRETURN(4);
    }
    status = fior_client_pubsub(handle, ptrs, lens, count, &id, &err);
    FIOR_RETURN_ID(status, err, id);

void
DESTROY(fior_client *handle)
  CODE:
    fior_client_free(handle);

int
CLONE_SKIP(...)
  CODE:
    /* A cloned ithread must never free the parent's Rust objects. */
    RETVAL = 1;
  OUTPUT:
    RETVAL

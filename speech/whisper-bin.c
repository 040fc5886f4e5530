/* whisper-bin.c — reader for whisper.cpp's legacy ggml `.bin` model files (SPEC.md §5.4), validated
 * before use.
 *
 * Layout (all int32 little-endian, no alignment padding anywhere):
 *   magic 0x67676d6c | hparams: n_vocab n_audio_ctx n_audio_state n_audio_head n_audio_layer n_text_ctx
 *   n_text_state n_text_head n_text_layer n_mels ftype (ftype may carry 1000·quantization_version)
 *   | mel filters: n_mel, n_fft, n_mel·n_fft float32 | vocab: n_tokens, then per token u32 length + bytes
 *   | tensors until EOF: n_dims (1..4), name_len, ttype (ggml type), n_dims dims (innermost first), name,
 *   raw data (nelements · type_size / block bytes).
 * Every count, length and size is checked against the bytes left (overflow-safe); names must be unique.
 * Tensor data is copied into one 64-byte-aligned arena (the file has no alignment), so the mapping is
 * released after parsing. The mel filters are skipped (speech/mel.h computes the same matrix).
 * Not here: name mapping and shapes (whisper-load.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "whisper-impl.h"

#define WGGML_MAGIC 0x67676d6cu
enum { MAX_TENSORS = 100000, MAX_NAME = 255, MAX_TOKEN = 1024, ALIGN = 64 };

typedef struct {
    const unsigned char *p;
    size_t left, size;
} Reader;

static size_t at(const Reader *r)
{
    return r->size - r->left;
}

static int rd_i32(Reader *r, int32_t *v)
{
    if (r->left < 4)
        return -EBADMSG;
    memcpy(v, r->p, 4);
    r->p += 4;
    r->left -= 4;
    return 0;
}

static int rd_skip(Reader *r, size_t n, const unsigned char **ret)
{
    if (n > r->left)
        return -EBADMSG;
    if (ret)
        *ret = r->p;
    r->p += n;
    r->left -= n;
    return 0;
}

void wggml_close(WggmlFile *f)
{
    if (!f)
        return;
    free(f->tensors);
    free(f->names);
    free(f->arena);
    free(f->tok_off);
    free(f->tok_bytes);
    free(f);
}

static int parse_vocab(WggmlFile *f, Reader *r, char *err, size_t err_len)
{
    int32_t n = 0;
    size_t total = 0;

    if (rd_i32(r, &n) < 0 || n < 0 || n > f->hp[0])
        return err_set(err, err_len, -EBADMSG, "vocab: token count %d (n_vocab %d) at byte %zu", n, f->hp[0], at(r));
    Reader probe = *r;
    for (int32_t i = 0; i < n; i++) { /* first pass: lengths and bounds */
        int32_t len = 0;
        if (rd_i32(&probe, &len) < 0 || len < 0 || len > MAX_TOKEN || rd_skip(&probe, (size_t)len, NULL) < 0)
            return err_set(err, err_len, -EBADMSG, "vocab: token %d truncated or longer than %d bytes (at byte %zu)",
                           i, MAX_TOKEN, at(&probe));
        total += (size_t)len;
    }
    f->n_tokens = n;
    f->tok_off = malloc(sizeof(uint32_t) * ((size_t)n + 1));
    f->tok_bytes = malloc(total + 1);
    if (!f->tok_off || !f->tok_bytes)
        return -ENOMEM;
    total = 0;
    for (int32_t i = 0; i < n; i++) {
        int32_t len = 0;
        const unsigned char *b = NULL;
        if (rd_i32(r, &len) < 0 || rd_skip(r, (size_t)len, &b) < 0) /* cannot happen: checked above */
            return -EBADMSG;
        f->tok_off[i] = (uint32_t)total;
        memcpy(f->tok_bytes + total, b, (size_t)len);
        total += (size_t)len;
    }
    f->tok_off[n] = (uint32_t)total;
    return 0;
}

static int parse_tensors(WggmlFile *f, Reader *r, char *err, size_t err_len)
{
    size_t arena = 0, names = 0;
    int n = 0, pass;

    /* pass 0 validates and sizes, pass 1 copies */
    for (pass = 0; pass < 2; pass++) {
        Reader q = *r;
        size_t off = 0, noff = 0;
        n = 0;
        while (q.left > 0) {
            int32_t nd = 0, nl = 0, tt = 0, dims[4] = {0};
            const unsigned char *name = NULL, *data = NULL;
            size_t pos = at(&q), nbytes;
            int64_t ne[4] = {1, 1, 1, 1};
            const DTypeInfo *di;

            if (rd_i32(&q, &nd) < 0 || rd_i32(&q, &nl) < 0 || rd_i32(&q, &tt) < 0)
                return err_set(err, err_len, -EBADMSG, "tensor header truncated at byte %zu", pos);
            if (nd < 1 || nd > 4 || nl < 1 || nl > MAX_NAME)
                return err_set(err, err_len, -EBADMSG, "tensor at byte %zu: %d dims, name length %d", pos, nd, nl);
            di = dtype_info(tt);
            if (!di || !di->supported)
                return err_set(err, err_len, -ENOTSUP, "tensor at byte %zu: ggml type %d not supported", pos, tt);
            for (int d = 0; d < nd; d++)
                if (rd_i32(&q, &dims[d]) < 0 || dims[d] < 1)
                    return err_set(err, err_len, -EBADMSG, "tensor at byte %zu: bad dimension", pos);
            if (rd_skip(&q, (size_t)nl, &name) < 0)
                return err_set(err, err_len, -EBADMSG, "tensor at byte %zu: name truncated", pos);
            for (int d = 0; d < nd; d++)
                ne[d] = dims[d];
            if (ne[0] % di->block || dtype_row_bytes((DType)tt, ne[0], &nbytes) < 0)
                return err_set(err, err_len, -EBADMSG, "tensor '%.*s': row of %lld not a whole block", nl,
                               (const char *)name, (long long)ne[0]);
            for (int d = 1; d < 4; d++) {
                if (nbytes > SIZE_MAX / (size_t)ne[d])
                    return err_set(err, err_len, -EOVERFLOW, "tensor '%.*s': size overflows", nl, (const char *)name);
                nbytes *= (size_t)ne[d];
            }
            if (rd_skip(&q, nbytes, &data) < 0)
                return err_set(err, err_len, -EBADMSG, "tensor '%.*s': %zu data bytes but %zu left in the file", nl,
                               (const char *)name, nbytes, q.left);
            if (++n > MAX_TENSORS)
                return err_set(err, err_len, -E2BIG, "more than %d tensors", MAX_TENSORS);
            if (pass == 1) {
                WggmlTensor *t = &f->tensors[n - 1];
                memcpy(f->names + noff, name, (size_t)nl);
                f->names[noff + (size_t)nl] = 0;
                t->name = f->names + noff;
                for (int i = 0; i < n - 1; i++)
                    if (!strcmp(f->tensors[i].name, t->name))
                        return err_set(err, err_len, -EBADMSG, "tensor '%s' appears twice", t->name);
                memcpy(f->arena + off, data, nbytes);
                tensor_init(&t->t, (DType)tt, nd, ne, f->arena + off);
                t->t.name = t->name;
            }
            noff += (size_t)nl + 1;
            off += (nbytes + ALIGN - 1) / ALIGN * ALIGN;
        }
        arena = off;
        names = noff;
        if (pass == 0) {
            f->tensors = calloc((size_t)n + 1, sizeof(*f->tensors));
            f->names = malloc(names + 1);
            f->arena = aligned_alloc(ALIGN, arena + ALIGN);
            if (!f->tensors || !f->names || !f->arena)
                return -ENOMEM;
        }
    }
    f->n_tensors = n;
    return 0;
}

static int parse(WggmlFile *f, const void *data, size_t size, char *err, size_t err_len)
{
    Reader r = {data, size, size};
    int32_t magic = 0, n_mel = 0, n_fft = 0;
    static const char *const k_hp[11] = {"n_vocab", "n_audio_ctx", "n_audio_state", "n_audio_head",
                                         "n_audio_layer", "n_text_ctx", "n_text_state", "n_text_head",
                                         "n_text_layer", "n_mels", "ftype"};
    int rc;

    if (rd_i32(&r, &magic) < 0 || (uint32_t)magic != WGGML_MAGIC)
        return err_set(err, err_len, -EBADMSG, "not a whisper.cpp ggml file (bad magic)");
    for (int i = 0; i < 11; i++) {
        if (rd_i32(&r, &f->hp[i]) < 0)
            return err_set(err, err_len, -EBADMSG, "hparams truncated");
        if (f->hp[i] < (i == 10 ? 0 : 1) || f->hp[i] > (i == 0 || i == 10 ? 1 << 20 : 1 << 16))
            return err_set(err, err_len, -EBADMSG, "hparam %s = %d out of range", k_hp[i], f->hp[i]);
    }
    if (rd_i32(&r, &n_mel) < 0 || rd_i32(&r, &n_fft) < 0 || n_mel < 1 || n_mel > 256 || n_fft < 1 ||
        n_fft > 4096 || rd_skip(&r, sizeof(float) * (size_t)n_mel * (size_t)n_fft, NULL) < 0)
        return err_set(err, err_len, -EBADMSG, "mel filters: %d × %d truncated or out of range", n_mel, n_fft);
    if ((rc = parse_vocab(f, &r, err, err_len)) < 0)
        return rc;
    return parse_tensors(f, &r, err, err_len);
}

int wggml_open(const char *path, WggmlFile **ret, char *err, size_t err_len)
{
    struct stat stt;
    WggmlFile *f;
    void *map;
    int fd, r;

    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return err_set(err, err_len, -errno, "%s: %s", path, strerror(errno));
    if (fstat(fd, &stt) < 0 || stt.st_size < 4) {
        close(fd);
        return err_set(err, err_len, -EBADMSG, "%s: empty or unreadable", path);
    }
    map = mmap(NULL, (size_t)stt.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED)
        return err_set(err, err_len, -errno, "%s: mmap: %s", path, strerror(errno));
    f = calloc(1, sizeof(*f));
    r = f ? parse(f, map, (size_t)stt.st_size, err, err_len) : -ENOMEM;
    munmap(map, (size_t)stt.st_size);
    if (r < 0) {
        wggml_close(f);
        return r;
    }
    *ret = f;
    return 0;
}

int wggml_open_memory(const void *data, size_t size, WggmlFile **ret, char *err, size_t err_len)
{
    WggmlFile *f = calloc(1, sizeof(*f));
    int r = f ? parse(f, data, size, err, err_len) : -ENOMEM;

    if (r < 0) {
        wggml_close(f);
        return r;
    }
    *ret = f;
    return 0;
}

const WggmlTensor *wggml_find(const WggmlFile *f, const char *name)
{
    for (int i = 0; i < f->n_tensors; i++)
        if (!strcmp(f->tensors[i].name, name))
            return &f->tensors[i];
    return NULL;
}

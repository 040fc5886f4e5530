/* engine-lm-stub.c — used while this build has no language model library (lm/session.c not landed):
 * only the test engine works; a model path fails with a clear message (State "error: …"). */
#include "engine.h"

#include <errno.h>

#include "log.h"

int engine_lm_new(const char *path, const char *backend, int threads, int n_ctx, int mmap, Engine **ret, char *err,
                  size_t err_len)
{
    (void)backend; (void)threads; (void)n_ctx; (void)mmap; (void)ret;
    return err_set(err, err_len, -ENOTSUP, "%s: this build has no language model support", path);
}

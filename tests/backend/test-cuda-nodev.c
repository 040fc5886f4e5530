/* test-cuda-nodev.c — backend_cuda_new() fails cleanly where CUDA cannot run: the stub of CPU-only builds
 * and the real backend on a machine without a GPU or driver both return -ENODEV with a message and leave
 * *ret NULL. On a GPU machine the real backend must instead come up and describe itself. */
#include <errno.h>
#include <string.h>

#include "backend.h"
#include "config.h"
#include "test-util.h"

int main(void)
{
    char err[256] = "";
    Backend *be = (Backend *)&err; /* poison: must be reset to NULL on failure */
    int r = backend_cuda_new(0, &be, err, sizeof(err));

    if (!HAVE_CUDA) {
        CHECK_INT(r, -ENODEV);
        CHECK(be == NULL);
        CHECK(strstr(err, "no CUDA") != NULL);
    } else if (r == 0) {
        CHECK(be != NULL);
        CHECK(strncmp(be->desc, "cuda:0 ", 7) == 0);
        CHECK(strstr(be->desc, "GiB free") != NULL);
        fprintf(stderr, "%s\n", be->desc);
        backend_free(be);
    } else {
        CHECK_INT(r, -ENODEV);
        CHECK(be == NULL);
        CHECK(err[0] != '\0');
        fprintf(stderr, "no GPU here: %s\n", err);
    }

    /* A device number that cannot exist is -ENODEV in every build. */
    be = (Backend *)&err;
    err[0] = '\0';
    CHECK_INT(backend_cuda_new(999, &be, err, sizeof(err)), -ENODEV);
    CHECK(be == NULL);
    CHECK(err[0] != '\0');
    /* NULL err buffer is allowed. */
    CHECK_INT(backend_cuda_new(999, &be, NULL, 0), -ENODEV);
    return test_exit();
}

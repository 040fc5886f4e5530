/* cuda-stub.c — backend_cuda_new() for builds without CUDA: a clear error, never a crash. */
#include <errno.h>

#include "backend.h"
#include "log.h"

int backend_cuda_new(int device, Backend **ret, char *err, size_t err_len)
{
    (void)device;
    *ret = NULL;
    return err_set(err, err_len, -ENODEV, "this build of Myna has no CUDA backend (configure with -Dcuda=enabled)");
}

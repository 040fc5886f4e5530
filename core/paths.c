/* paths.c — the default models folder (see paths.h). Not here: checking that anything exists there. */
#include "paths.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int paths_models_dir(char *buf, size_t len)
{
    const char *d = getenv("MYNA_MODELS_DIR"), *xdg = getenv("XDG_DATA_HOME"), *home = getenv("HOME");
    int n;

    if (d && *d)
        n = snprintf(buf, len, "%s", d);
    else if (xdg && *xdg)
        n = snprintf(buf, len, "%s/myna/models", xdg);
    else
        n = snprintf(buf, len, "%s/.local/share/myna/models", home && *home ? home : "/nonexistent");
    return n >= 0 && (size_t)n < len ? 0 : -ENAMETOOLONG;
}

int paths_model_file(const char *name, char *buf, size_t len)
{
    int r = paths_models_dir(buf, len), n;
    size_t used;

    if (r < 0)
        return r;
    used = strlen(buf);
    n = snprintf(buf + used, len - used, "/%s", name);
    return n >= 0 && (size_t)n < len - used ? 0 : -ENAMETOOLONG;
}

/* paths.h — where Myna finds model files when no path is given: $MYNA_MODELS_DIR, else
 * ${XDG_DATA_HOME:-$HOME/.local/share}/myna/models (empty variables count as unset; no HOME: /nonexistent).
 * One definition for mynad, myna, myna-run and the tests. Not here: which file a component wants there.
 */
#ifndef MYNA_CORE_PATHS_H
#define MYNA_CORE_PATHS_H

#include <stddef.h>

/* The models folder into buf; -ENAMETOOLONG when it does not fit (buf then holds it truncated). */
int paths_models_dir(char *buf, size_t len);
/* models_dir/name into buf; -ENAMETOOLONG when it does not fit. */
int paths_model_file(const char *name, char *buf, size_t len);

#endif

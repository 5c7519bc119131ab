/* Looks up a file built into the binary (include/msgw/base/embedded.h). */
#include <string.h>

#include "msgw/base/embedded.h"

const msgw_embedded_file *msgw_embedded_find(const char *name)
{
    for (const msgw_embedded_file *f = msgw_embedded_files(); name && f->name; f++)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

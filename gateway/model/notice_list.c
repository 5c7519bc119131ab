/*
 * List documents of eligibility notices (include/msgw/model/notice.h): a recipient that takes
 * several notices per message gets them as one document of its own format, each notice exactly as
 * it would have come alone.  The notices are the gateway's own output, so the lists are built by
 * joining their bytes: a delivery pass joins up to a few hundred of them, and parsing each again
 * only to write it back unchanged would cost more than writing it did.
 */
#include <string.h>

#include "msgw/model/notice.h"


/* The length of the XML declaration that opens b, with the line break after it; 0: none. */
static size_t declaration(const char *b, size_t len)
{
    if (len < 5 || memcmp(b, "<?xml", 5) != 0) return 0;
    const char *end = memmem(b, len, "?>", 2);
    if (!end) return 0;
    size_t k = (size_t)(end - b) + 2;
    while (k < len && (b[k] == '\n' || b[k] == '\r'))
        k++;
    return k;
}

void msgw_notice_list_xml(msgw_buf *out, const char *root, const char *ns, const char *version,
                          const char *const *bodies, const size_t *lens, size_t n)
{
    size_t head = n ? declaration(bodies[0], lens[0]) : 0;
    if (head)
        msgw_buf_append(out, bodies[0], head);
    else
        msgw_buf_puts(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    msgw_buf_printf(out, "<%s", root);
    if (ns) msgw_buf_printf(out, " xmlns=\"%s\"", ns);
    msgw_buf_printf(out, " version=\"%s\">\n", version);
    for (size_t i = 0; i < n; i++) {
        size_t skip = declaration(bodies[i], lens[i]);
        msgw_buf_append(out, bodies[i] + skip, msgw_buf_trimmed(bodies[i] + skip, lens[i] - skip));
        msgw_buf_puts(out, "\n");
    }
    msgw_buf_printf(out, "</%s>\n", root);
}

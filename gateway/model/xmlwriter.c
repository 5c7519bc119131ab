/*
 * The pretty-printing XML writer the department encoders share
 * (include/msgw/model/xmlwriter.h).  Documents are built in UTF-8 and converted
 * once at the end, so escaping and the XML 1.0 check see one encoding.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>

#include "msgw/model/model.h"
#include "msgw/base/text.h"
#include "msgw/model/xmlwriter.h"

void msgw_xmlw_init(msgw_xmlw *w, msgw_errors *e, bool gb18030)
{
    *w = (msgw_xmlw){.gb18030 = gb18030, .ok = true, .e = e, .rec = -1};
    w->xml_char_rule = "encode.xml_char";
    msgw_buf_init(&w->doc);
    msgw_buf_printf(&w->doc, "<?xml version=\"1.0\" encoding=\"%s\"?>\n",
                    gb18030 ? "GB18030" : "UTF-8");
}

void msgw_xmlw_clear(msgw_xmlw *w)
{
    msgw_buf_free(&w->doc);
}

static void indent(msgw_xmlw *w)
{
    for (int i = 0; i < w->depth; i++)
        msgw_buf_puts(&w->doc, "  ");
}

void msgw_xmlw_open(msgw_xmlw *w, const char *tag)
{
    msgw_xmlw_open_attrs(w, tag, NULL);
}

void msgw_xmlw_open_attrs(msgw_xmlw *w, const char *tag, ...)
{
    indent(w);
    msgw_buf_printf(&w->doc, "<%s", tag);
    va_list ap;
    va_start(ap, tag);
    for (const char *name; (name = va_arg(ap, const char *));) {
        msgw_buf_printf(&w->doc, " %s=\"", name);
        msgw_buf_xml_escape(&w->doc, va_arg(ap, const char *));
        msgw_buf_puts(&w->doc, "\"");
    }
    va_end(ap);
    msgw_buf_puts(&w->doc, ">\n");
    w->depth++;
}

void msgw_xmlw_close(msgw_xmlw *w, const char *tag)
{
    w->depth--;
    indent(w);
    msgw_buf_printf(&w->doc, "</%s>\n", tag);
}

void msgw_xmlw_refuse(msgw_xmlw *w, const char *field, const char *rule, const char *fmt, ...)
{
    char loc[32];
    if (w->rec >= 0) snprintf(loc, sizeof loc, "record %d", w->rec);
    va_list ap;
    va_start(ap, fmt);
    msgw_errors_vadd(w->e, MSGW_SEV_ERROR, w->rec, w->rec >= 0 ? loc : NULL, field, rule, fmt, ap);
    va_end(ap);
    w->ok = false;
}

/* XML 1.0 cannot carry C0 controls other than tab and line ends, nor U+FFFE / U+FFFF. */
static bool xml_safe(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r') return false;
        if (p[0] == 0xEF && p[1] == 0xBF && (p[2] == 0xBE || p[2] == 0xBF)) return false;
    }
    return true;
}

void msgw_xmlw_text(msgw_xmlw *w, const char *tag, const char *s)
{
    if (!s) return;
    if (!xml_safe(s)) {
        msgw_xmlw_refuse(w, tag, w->xml_char_rule, "%s holds a character XML 1.0 cannot carry",
                         tag);
        return;
    }
    indent(w);
    msgw_buf_printf(&w->doc, "<%s>", tag);
    msgw_buf_xml_escape(&w->doc, s);
    msgw_buf_printf(&w->doc, "</%s>\n", tag);
}

void msgw_xmlw_date(msgw_xmlw *w, const char *tag, msgw_date d)
{
    char b[11];
    if (d != MSGW_DATE_NONE) msgw_xmlw_text(w, tag, msgw_date_format(d, b));
}

void msgw_xmlw_int(msgw_xmlw *w, const char *tag, int64_t v)
{
    if (v == MSGW_ABSENT) return;
    indent(w);
    msgw_buf_printf(&w->doc, "<%s>%" PRId64 "</%s>\n", tag, v, tag);
}

void msgw_xmlw_value(msgw_xmlw *w, const char *tag, const msgw_value *v)
{
    char b[MSGW_VALUE_TEXT_MAX];
    msgw_xmlw_text(w, tag, msgw_value_text(v, b));
}

static bool to_gb18030(msgw_xmlw *w, msgw_buf *out, const char *charset_rule)
{
    msgw_arena *a = msgw_arena_new(w->doc.len * 2 + 64);
    size_t len = 0;
    char *gb = msgw_utf8_to_gb18030(w->doc.data, w->doc.len, a, &len);
    if (gb) {
        msgw_buf_append(out, gb, len);
    } else {
        w->rec = -1; /* the document as a whole, whichever record was written last */
        msgw_xmlw_refuse(w, NULL, charset_rule, "the document cannot be written in GB18030");
    }
    msgw_arena_destroy(&a);
    return gb != NULL;
}

bool msgw_xmlw_finish(msgw_xmlw *w, msgw_buf *out, const char *charset_rule)
{
    if (!w->ok) return false;
    if (w->gb18030) return to_gb18030(w, out, charset_rule);
    msgw_buf_append(out, w->doc.data, w->doc.len);
    return true;
}

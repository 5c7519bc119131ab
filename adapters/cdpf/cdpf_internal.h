/*
 * Shared between the two wire formats of the disability federation (残联)
 * adapter: the XML certificate events (cdpf_xml.c) and the monthly CSV roster
 * (cdpf_csv.c) carry the same facts, so both fill one flat cdpf_cert and one
 * function turns it into the canonical record.  Keeping that mapping in one
 * place is what makes an XML event and a roster row of the same certificate
 * come out as equal records.
 */
#ifndef CDPF_INTERNAL_H
#define CDPF_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "msgw/validate/adapter.h"

#define CDPF_KIND "disability_certificate"
#define CDPF_FACT "disability"

/* Dictionary elements the adapter parses with, looked up once per call. */
typedef struct cdpf_elements {
    const msgw_element *id_number, *name, *sex, *birth_date, *hukou_region, *hukou_type;
    const msgw_element *certno, *category, *grade, *event, *start_date, *end_date;
} cdpf_elements;

/* One certificate as either format states it, values already checked. */
typedef struct cdpf_cert {
    const char *event_id; /* sender's event id (XML only), NULL for a roster row */
    msgw_value event;     /* certificate_event code */
    msgw_value certno, category, grade;
    msgw_date valid_from, valid_to;
    msgw_person holder;
    const char *loc; /* where the record starts */
} cdpf_cert;

/* Fills els; a dictionary without one of them is a document error. */
bool cdpf_elements_lookup(const msgw_dict *d, cdpf_elements *els, msgw_errors *e);

void cdpf_cert_init(cdpf_cert *c);
/* The canonical record of c, allocated in a. */
msgw_record *cdpf_record_build(const cdpf_cert *c, msgw_arena *a);
/*
 * The reverse for encoders: reads record i back into c (strings borrowed
 * from the record).  A kind other than disability_certificate, or a record
 * without its disability fact or holder, is an error naming record i.
 */
bool cdpf_cert_from_record(const msgw_record *r, int i, cdpf_cert *c, msgw_errors *e);

/* Refuses a document over the context's size limit before any parsing. */
bool cdpf_check_size(const msgw_adapter_ctx *ctx, size_t len, msgw_errors *e);

/* The value of a "charset" media type parameter, or NULL/0 when there is none. */
const char *cdpf_media_charset(const char *media_type, size_t *len);

void cdpf_xml_decode(const msgw_adapter_ctx *ctx, const char *buf, size_t len, msgw_batch *out);
bool cdpf_xml_encode(const msgw_adapter_ctx *ctx, bool gb18030, const msgw_record *const *recs,
                     size_t n, msgw_buf *out, msgw_errors *e);
void cdpf_csv_decode(const msgw_adapter_ctx *ctx, const char *media_type, const char *buf,
                     size_t len, msgw_batch *out);
bool cdpf_csv_encode(const msgw_adapter_ctx *ctx, bool gb18030, const msgw_record *const *recs,
                     size_t n, msgw_buf *out, msgw_errors *e);
/* An eligibility notice (cdpf_notice.c, spec schemas/messages/cdpf-notice.json). */
bool cdpf_encode_notice(const msgw_adapter_ctx *ctx, const char *media_type, const msgw_notice *n,
                        msgw_buf *out, const char **notice_type, msgw_errors *e);
extern const char *const cdpf_notice_types[];
void cdpf_join_notices(const char *notice_type, const char *const *ids,
                       const char *const *bodies, const size_t *lens,
                       size_t n, msgw_buf *out);

#endif

/*
 * The adapter registry.  Adding a department format is one line here (and
 * its directory under adapters/); no other core file knows the formats.
 */
#include <string.h>
#include <strings.h>

#include "msgw/decode/decode.h"

extern const msgw_adapter msgw_adapter_mca;
extern const msgw_adapter msgw_adapter_hrss;
extern const msgw_adapter msgw_adapter_health;
extern const msgw_adapter msgw_adapter_cdpf;
extern const msgw_adapter msgw_adapter_canonical;

static const msgw_adapter *const registry[] = {
    &msgw_adapter_mca,       /* 民政 civil affairs: XML rosters */
    &msgw_adapter_hrss,      /* 人社 human resources and social security: JSON field codes */
    &msgw_adapter_health,    /* 卫健 health: HL7 FHIR R4 JSON */
    &msgw_adapter_cdpf,      /* 残联 disability federation: XML events, CSV rosters */
    &msgw_adapter_canonical, /* msgw canonical JSON (gateways, tools) */
    NULL,
};

const msgw_adapter *const *msgw_adapters(void)
{
    return registry;
}

const msgw_adapter *msgw_adapter_find(const char *name)
{
    if (!name) return NULL; /* a department without an id (the configuration says so) */
    for (const msgw_adapter *const *a = registry; *a; a++) {
        if (strcasecmp((*a)->name, name) == 0) return *a;
        for (const char *const *al = (*a)->aliases; al && *al; al++)
            if (strcasecmp(*al, name) == 0) return *a;
    }
    return NULL;
}

/* Compares the type/subtype parts only: "text/csv; charset=GB18030" matches "text/csv", and
 * "application/fhir+json" the health notices' "application/fhir+json; fhirVersion=4.0". */
static bool media_type_matches(const char *want, const char *have)
{
    size_t n = strcspn(want, "; \t");
    return strcspn(have, "; \t") == n && strncasecmp(want, have, n) == 0;
}

const msgw_adapter *msgw_adapter_for_media_type(const char *media_type)
{
    for (const msgw_adapter *const *a = registry; *a; a++)
        for (const char *const *mt = (*a)->media_types; mt && *mt; mt++)
            if (media_type_matches(media_type, *mt)) return *a;
    return NULL;
}

const msgw_adapter *msgw_adapter_for_notice_type(const char *notice_type)
{
    for (const msgw_adapter *const *a = registry; *a; a++)
        for (const char *const *mt = (*a)->notice_types; mt && *mt; mt++)
            if (media_type_matches(notice_type, *mt)) return *a;
    return NULL;
}

/*
 * Shared between the health adapter's decoder and encoder (not a public
 * interface): the FHIR URIs both sides must agree on, the GB/T code <-> FHIR
 * code maps, and the ICD-10 -> chronic-disease category table, so that what
 * one side writes the other reads back to the same canonical record.
 */
#ifndef MSGW_FHIR_INTERNAL_H
#define MSGW_FHIR_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "msgw/validate/adapter.h"
#include "msgw/base/arena.h"
#include "msgw/base/error.h"

#define FHIR_SYS_V2_0203 "http://terminology.hl7.org/CodeSystem/v2-0203"
#define FHIR_SYS_ICD10 "http://hl7.org/fhir/sid/icd-10"
#define FHIR_SYS_ICD10_CN "http://hl7.org/fhir/sid/icd-10-cn"
#define FHIR_SYS_LOINC "http://loinc.org"
#define FHIR_SYS_SNOMED "http://snomed.info/sct"
#define FHIR_SYS_CLINICAL "http://terminology.hl7.org/CodeSystem/condition-clinical"
#define FHIR_SYS_V3_MARITAL "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus"
#define FHIR_SNOMED_PREGNANCY "77386006"
#define FHIR_LOINC_EDD "11778-8" /* Delivery date Estimated */

/* msgw's own extensions and code systems: URNs, so they can never clash with a real site. */
#define FHIR_EXT_REGION "urn:msgw:fhir:region-code"         /* Address: GB/T 2260 code */
#define FHIR_EXT_ADDRESS_ROLE "urn:msgw:fhir:address-role"  /* Address: "hukou" | "residence" */
#define FHIR_EXT_HUKOU_TYPE "urn:msgw:fhir:hukou-type"      /* Patient: hukou_type code */
#define FHIR_EXT_ETHNIC "urn:msgw:fhir:ethnic-group"        /* Patient: GB 3304 code */
#define FHIR_EXT_EDD "urn:msgw:fhir:expected-delivery-date" /* EpisodeOfCare / Condition */
#define FHIR_EXT_PREGNANCY_STATUS "urn:msgw:fhir:pregnancy-status"
#define FHIR_EXT_NOTICE "urn:msgw:fhir:eligibility-notice" /* Flag: the notice's explanation */
#define FHIR_EXT_PREFIX "urn:msgw:fhir:"
#define FHIR_CODELIST_PREFIX "urn:msgw:codelist:" /* + dictionary code list id */

/* Resource types msgw maps, for messages that tell a sender what is skipped. */
#define FHIR_MAPPED_TYPES "Patient, Condition, Observation, EpisodeOfCare"

/* ICD-10 category ranges from schemas/codelists/icd10_category.json. */
typedef struct fhir_icd_range {
    char from[4], to[4]; /* three-character categories, inclusive */
    const char *category;
} fhir_icd_range;

typedef struct fhir_icd_table {
    fhir_icd_range *v;
    size_t n;
    const char *fallback; /* category of every code not listed */
} fhir_icd_table;

/* Loads the embedded table into arena a; on failure adds a document error to e. */
bool fhir_icd_table_load(fhir_icd_table *t, msgw_arena *a, msgw_errors *e);
/* condition_category code for an ICD-10 code such as "I10" or "F20.0". */
const char *fhir_icd_category(const fhir_icd_table *t, const char *icd);
/* True for ICD-10 Z33 (pregnant state). */
bool fhir_icd_is_pregnancy(const char *icd);

/* FHIR administrative gender <-> GB/T 2261.1; NULL when there is no counterpart. */
const char *fhir_gender_to_gb(const char *gender);
const char *fhir_gender_from_gb(const char *sex);
/* v3-MaritalStatus <-> GB/T 2261.2 (coarse: 10/20/30/40/90). */
const char *fhir_marital_to_gb(const char *v3);
const char *fhir_marital_from_gb(const char *gb);
/* EpisodeOfCare.status <-> pregnancy_status; NULL for entered-in-error / unknown. */
const char *fhir_episode_status_to_pregnancy(const char *status);
const char *fhir_pregnancy_to_episode_status(const char *pregnancy_status);

/* obj[key] as a string, NULL when absent or not a string. */
const char *fhir_str(const json_t *obj, const char *key);
/* The Identifier carrying a resident ID number: type v2-0203 NI, and system when configured. */
json_t *fhir_resident_identifier(const char *system, const char *id);

void fhir_decode(const msgw_adapter_ctx *ctx, const char *media_type, const char *buf, size_t len,
                 msgw_batch *out);
bool fhir_encode(const msgw_adapter_ctx *ctx, const char *media_type,
                 const msgw_record *const *recs, size_t n, msgw_buf *out, msgw_errors *e);
bool fhir_media_type_ok(const char *media_type);
/* An eligibility notice as a Flag (fhir_notice.c, spec schemas/messages/health-notice.json). */
bool fhir_encode_notice(const msgw_adapter_ctx *ctx, const char *media_type, const msgw_notice *n,
                        msgw_buf *out, const char **notice_type, msgw_errors *e);
extern const char *const fhir_notice_types[];
void fhir_join_notices(const char *notice_type, const char *const *ids,
                       const char *const *bodies, const size_t *lens,
                       size_t n, msgw_buf *out);

#endif

/*
 * Safe XML for adapters: libxml2 configured so that a department document
 * can never load a DTD, resolve an external entity or expand entities
 * (billion laughs, XXE), with size and depth limits; XSD validation whose
 * errors carry the XPath and line of the offending node.
 */
#ifndef MSGW_XML_H
#define MSGW_XML_H

#include <libxml/tree.h>
#include <stdbool.h>
#include <stddef.h>

#include "msgw/base/error.h"

/*
 * Parses buf (UTF-8 or any encoding declared in the XML declaration that
 * libxml2 knows, GB18030 included).  Any DOCTYPE is refused.  Returns NULL
 * after adding a document-level error (record -1) naming line and cause.
 */
xmlDocPtr msgw_xml_parse(const char *buf, size_t len, unsigned max_depth, msgw_errors *e);
/*
 * Validates doc against a compiled schema (xmlSchemaPtr).  Each violation is
 * added with location "XPATH (line N)" and rule "xsd.<kind>"; record_of maps
 * a node to the record index it belongs to (or NULL: -1).
 */
bool msgw_xml_validate(void *schema, xmlDocPtr doc, msgw_errors *e,
                       int (*record_of)(xmlNodePtr node, void *ud), void *ud);
/* "XPATH (line N)" for a node, in a static-free buffer of len bytes. */
char *msgw_xml_location(xmlNodePtr node, char *buf, size_t len);
/*
 * An element's 1-based position among its same-named siblings, from the
 * index msgw_xml_parse builds (in each node's _private, which therefore
 * belongs to this module); *several tells whether it has such siblings.
 */
int msgw_xml_sibling_position(xmlNodePtr node, bool *several);
/* Trimmed text content of the first child element named name (NULL if absent). */
xmlNodePtr msgw_xml_child(xmlNodePtr parent, const char *name);
/* Text of a node without copying when possible; *len receives its length.
 * Returns NULL for an element without text. */
const char *msgw_xml_text(xmlNodePtr node, size_t *len);
/* Initialise libxml2 once per process (thread-safe); adapters call it. */
void msgw_xml_init(void);

#endif

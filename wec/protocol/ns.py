# SPDX-License-Identifier: GPL-3.0-or-later
"""Namespace URIs, Clark-notation tags and constant URIs of WEF (docs/protocol.md §3.1).

Elements are always matched on (namespace URI, local name), which lxml spells ``{uri}local``;
the prefixes a peer chooses are irrelevant. ``QueryList``, ``BookmarkList`` and OpenWEC's
``Version``/``Revision`` reference parameters are in no namespace: their tag is the bare name.
"""

from __future__ import annotations

from typing import Final

# --- namespace URIs (docs/protocol.md §3.1) ---
SOAP: Final = "http://www.w3.org/2003/05/soap-envelope"
ADDRESSING: Final = "http://schemas.xmlsoap.org/ws/2004/08/addressing"
EVENTING: Final = "http://schemas.xmlsoap.org/ws/2004/08/eventing"
ENUMERATION: Final = "http://schemas.xmlsoap.org/ws/2004/09/enumeration"
WSMAN: Final = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"
MS_WSMAN: Final = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"
MACHINE_ID: Final = "http://schemas.microsoft.com/wbem/wsman/1/machineid"
SUBSCRIPTION: Final = "http://schemas.microsoft.com/wbem/wsman/1/subscription"
POLICY: Final = "http://schemas.xmlsoap.org/ws/2002/12/policy"
AUTHENTICATION: Final = "http://schemas.microsoft.com/wbem/wsman/1/authentication"
XSI: Final = "http://www.w3.org/2001/XMLSchema-instance"
WSMAN_FAULT: Final = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault"
XML: Final = "http://www.w3.org/XML/1998/namespace"

# --- Action URIs ---
ACTION_ENUMERATE: Final = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate"
ACTION_ENUMERATE_RESPONSE: Final = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/EnumerateResponse"
ACTION_SUBSCRIBE: Final = "http://schemas.xmlsoap.org/ws/2004/08/eventing/Subscribe"
ACTION_SUBSCRIPTION_END: Final = "http://schemas.xmlsoap.org/ws/2004/08/eventing/SubscriptionEnd"
ACTION_END: Final = "http://schemas.microsoft.com/wbem/wsman/1/wsman/End"
ACTION_HEARTBEAT: Final = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Heartbeat"
ACTION_EVENTS: Final = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Events"
ACTION_ACK: Final = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Ack"

# --- other constant URIs ---
ANONYMOUS: Final = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"
RESOURCE_EVENT_LOG: Final = "http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog"
DELIVERY_MODE_EVENTS: Final = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Events"
FILTER_DIALECT: Final = "http://schemas.microsoft.com/win/2004/08/events/eventquery"
PROFILE_KERBEROS: Final = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/spnego-kerberos"
PROFILE_TLS_MUTUAL: Final = "http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual"
BOOKMARK_EARLIEST: Final = "http://schemas.dmtf.org/wbem/wsman/1/wsman/bookmark/earliest"


def _q(ns: str, local: str) -> str:
    return f"{{{ns}}}{local}"


# --- Clark-notation tags the parser looks for ---
S_ENVELOPE: Final = _q(SOAP, "Envelope")
S_HEADER: Final = _q(SOAP, "Header")
S_BODY: Final = _q(SOAP, "Body")
A_TO: Final = _q(ADDRESSING, "To")
A_ACTION: Final = _q(ADDRESSING, "Action")
A_MESSAGE_ID: Final = _q(ADDRESSING, "MessageID")
A_REPLY_TO: Final = _q(ADDRESSING, "ReplyTo")
A_ADDRESS: Final = _q(ADDRESSING, "Address")
A_REFERENCE_PROPERTIES: Final = _q(ADDRESSING, "ReferenceProperties")
A_REFERENCE_PARAMETERS: Final = _q(ADDRESSING, "ReferenceParameters")
W_RESOURCE_URI: Final = _q(WSMAN, "ResourceURI")
W_MAX_ENVELOPE_SIZE: Final = _q(WSMAN, "MaxEnvelopeSize")
W_LOCALE: Final = _q(WSMAN, "Locale")
W_BOOKMARK: Final = _q(WSMAN, "Bookmark")
W_ACK_REQUESTED: Final = _q(WSMAN, "AckRequested")
W_EVENTS: Final = _q(WSMAN, "Events")
W_EVENT: Final = _q(WSMAN, "Event")
P_DATA_LOCALE: Final = _q(MS_WSMAN, "DataLocale")
P_OPERATION_ID: Final = _q(MS_WSMAN, "OperationID")
M_MACHINE_ID: Final = _q(MACHINE_ID, "MachineID")
E_IDENTIFIER: Final = _q(EVENTING, "Identifier")
E_SUBSCRIPTION_END: Final = _q(EVENTING, "SubscriptionEnd")
E_SUBSCRIPTION_MANAGER: Final = _q(EVENTING, "SubscriptionManager")
E_STATUS: Final = _q(EVENTING, "Status")
F_WSMAN_FAULT: Final = _q(WSMAN_FAULT, "WSManFault")
F_MESSAGE: Final = _q(WSMAN_FAULT, "Message")
XML_LANG: Final = _q(XML, "lang")
# OpenWEC's reference parameters and Windows' bookmark/query roots: no namespace.
VERSION: Final = "Version"
REVISION: Final = "Revision"
BOOKMARK_LIST: Final = "BookmarkList"
QUERY_LIST: Final = "QueryList"

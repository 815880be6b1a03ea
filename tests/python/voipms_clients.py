"""Runs two VoIP.ms clients nobody here wrote (PyPI `voipms-api` and `voipms`) against the fake.

Started by tests/integration/fake_voipms_clients.rs, which seeds the fake and passes its address in
FAKE_URL, with FAKE_USER, FAKE_PASSWORD, DID, PATIENT, SMS_ID (a received text of today) and MMS_ID
(a received MMS of today with MEDIA_1 and MEDIA_2). Exits non-zero on the first mismatch.
"""

import os
import sys
import warnings

import requests
import voipms
import voipms_api.dids
import voipms_api.sms

URL = os.environ["FAKE_URL"]
USER = os.environ["FAKE_USER"]
PASSWORD = os.environ["FAKE_PASSWORD"]
DID = os.environ["DID"]
PATIENT = os.environ["PATIENT"]
SMS_ID = os.environ["SMS_ID"]
MMS_ID = os.environ["MMS_ID"]
MEDIA = [os.environ["MEDIA_1"], os.environ["MEDIA_2"]]
UNUSED_DID = "5145550999"


def check(condition, what):
    if not condition:
        raise AssertionError(what)
    print(f"ok: {what}")


def voipms_api_client(cls, user=USER, password=PASSWORD):
    client = cls(user, password, timeout=10)
    client.voipms_url = URL
    return client


def with_voipms_api():
    sms = voipms_api_client(voipms_api.sms.SMS)
    got = sms.get_sms(type=1, did=DID, timezone=0)
    check(got["status"] == "success", "voipms-api getSMS: success envelope")
    rows = {row["id"]: row for row in got["sms"]}
    check(SMS_ID in rows and rows[SMS_ID]["type"] == "1", "voipms-api getSMS: the received text, type 1")

    sent = sms.send_sms(DID, PATIENT, "Hello from voipms-api")
    check(sent["status"] == "success" and isinstance(sent["sms"], int), "voipms-api sendSMS: integer id")
    got = sms.get_sms(type=0, did=DID, contact=PATIENT, timezone=0)
    ids = [row["id"] for row in got["sms"]]
    check(str(sent["sms"]) in ids, "voipms-api getSMS type=0: the text just sent")

    check(sms.get_sms(did=UNUSED_DID)["status"] == "no_sms", "voipms-api getSMS: empty is no_sms")
    too_long = sms.send_sms(DID, PATIENT, "x" * 161)
    check(too_long["status"] == "sms_toolong", "voipms-api sendSMS: sms_toolong over 160")

    mms = sms.get("getMMS", {"all_messages": 1, "type": 1, "did": DID, "timezone": 0})
    rows = {row["id"]: row for row in mms["sms"]}
    check(SMS_ID in rows and MMS_ID in rows, "voipms-api getMMS all_messages=1: texts and MMS in one list")
    row = rows[MMS_ID]
    check([row["col_media1"], row["col_media2"], row["col_media3"]] == MEDIA + [""], "getMMS: col_media1..3")
    check(row["media"] == MEDIA, "getMMS: media list")

    dids = voipms_api_client(voipms_api.dids.DIDs)
    info = dids.get_dids_info(did=DID)
    check(info["status"] == "success" and info["dids"][0]["did"] == DID, "voipms-api getDIDsInfo")
    check(dids.get_dids_info(did=UNUSED_DID)["status"] == "no_did", "voipms-api getDIDsInfo: no_did")
    # The same call as multipart/form-data POST.
    info = dids.post("getDIDsInfo", {"did": DID})
    check(info["status"] == "success", "voipms-api multipart POST")

    bad = voipms_api_client(voipms_api.sms.SMS, password="wrong").get_sms()
    check(bad["status"] == "invalid_credentials", "voipms-api: invalid_credentials")


def expect_error(call, message, what):
    try:
        call()
    except TypeError as error:
        check(str(error) == message, f"{what}: {message!r}")
    else:
        raise AssertionError(f"{what}: no error")


def with_voipms():
    client = voipms.VoipMs(USER, PASSWORD)
    # The package has the real address built in; point it at the fake.
    client.base_url = f"{URL}?api_username={USER}&api_password={PASSWORD}&"
    client.post_url = URL

    got = client.dids.get.sms(sms_type=True, did=int(DID), timezone=0)
    check(any(row["id"] == SMS_ID for row in got["sms"]), "voipms getSMS: the received text")
    sent = client.dids.send.sms(int(DID), int(PATIENT), "Hello from voipms! ok?")
    check(isinstance(sent["sms"], int), "voipms sendSMS: integer id")
    got = client.dids.get.sms(sms_type=False, did=int(DID), contact=int(PATIENT), timezone=0)
    sent_row = next(row for row in got["sms"] if row["id"] == str(sent["sms"]))
    # The package turns "!" into "+" (a space) on the way out: what arrives is what it sent.
    check(sent_row["message"] == "Hello from voipms  ok?", "voipms getSMS type=0: the text as sent")

    got = client.dids.get.mms(all_messages=True, mms_type=True, did=int(DID), timezone=0)
    rows = {row["id"]: row for row in got["sms"]}
    check(rows[MMS_ID]["media"] == MEDIA and SMS_ID in rows, "voipms getMMS all_messages: texts and MMS")

    info = client.dids.get.dids_info(did=int(DID))
    check(info["dids"][0]["sms_enabled"] == "1", "voipms getDIDsInfo")

    expect_error(lambda: client.dids.get.sms(did=int(UNUSED_DID)), "There are no SMS messages", "voipms no_sms")
    expect_error(lambda: client.dids.get.dids_info(did=int(UNUSED_DID)), "There are no DIDs", "voipms no_did")
    expect_error(
        lambda: client._get("sendSMS", {"did": DID, "dst": PATIENT, "message": "x" * 161}),
        "The SMS message exceeds 160 characters",
        "voipms sms_toolong",
    )
    # Its POST is urlencoded, which the real API refuses with HTTP 500.
    try:
        client._post("getDIDsInfo", {"did": DID})
    except requests.HTTPError as error:
        check(error.response.status_code == 500, "voipms urlencoded POST: HTTP 500")
    else:
        raise AssertionError("urlencoded POST was accepted")


if __name__ == "__main__":
    warnings.simplefilter("ignore", DeprecationWarning)
    with_voipms_api()
    with_voipms()
    print("all checks passed")
    sys.exit(0)

#!/usr/bin/python3
"""Independent checks of a ferry repository on an S3 bucket with Object Lock, through boto3
(not ferry's own S3 client). Endpoint, credentials and bucket from the environment that
tests/servers/with_rgw.sh sets up (FERRY_RGW_ENDPOINT, FERRY_RGW_LOCKED_BUCKET, AWS_*).

  object_lock_check.py retained PREFIX MODE DAYS   every object but index/, locks/, prune/ is
                                                   retained in MODE until about now + DAYS;
                                                   those three are not retained at all
  object_lock_check.py shorten PREFIX SUB SECONDS  (governance bypass) retain PREFIX/SUB* until
                                                   now + SECONDS only
  object_lock_check.py versions PREFIX             no delete markers and no old versions: what
                                                   ferry deleted is really gone
  object_lock_check.py refuses PREFIX              the server refuses to delete a pack version
  object_lock_check.py download PREFIX DIR         copies the repository to a local directory
  object_lock_check.py count PREFIX SUB            prints how many objects PREFIX/SUB* has
  object_lock_check.py start-upload PREFIX NAME    starts a multipart upload of PREFIX/NAME and
                                                   sends one 5 MiB part, as a writer killed
                                                   before its commit leaves it
  object_lock_check.py uploads PREFIX              prints how many unfinished uploads PREFIX/*
                                                   has
"""
import datetime
import os
import sys

import boto3
import botocore

s3 = boto3.client("s3", endpoint_url=os.environ["FERRY_RGW_ENDPOINT"], region_name="us-east-1",
                  aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
                  aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"])
bucket = os.environ["FERRY_RGW_LOCKED_BUCKET"]
EXEMPT = ("index/", "locks/", "prune/")


def keys(prefix, sub=""):
    out = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                              Prefix=prefix + "/" + sub):
        out += [o["Key"] for o in page.get("Contents", [])]
    return out


def now():
    return datetime.datetime.now(datetime.timezone.utc)


def retained(prefix, mode, days):
    want = now() + datetime.timedelta(days=float(days))
    checked = 0
    for key in keys(prefix):
        name = key[len(prefix) + 1:]
        head = s3.head_object(Bucket=bucket, Key=key)
        if name.startswith(EXEMPT):
            assert "ObjectLockRetainUntilDate" not in head, f"{name} is retained but is exempt"
            continue
        assert head.get("ObjectLockMode") == mode.upper(), f"{name}: mode {head.get('ObjectLockMode')}"
        until = head["ObjectLockRetainUntilDate"]
        assert abs((until - want).total_seconds()) < 600, f"{name}: retained until {until}, want {want}"
        checked += 1
    assert checked > 0, "no retained object found"
    print(f"{checked} objects retained in {mode} mode for {days} days")


def shorten(prefix, sub, seconds):
    until = now() + datetime.timedelta(seconds=float(seconds))
    found = keys(prefix, sub)
    assert found, f"nothing under {prefix}/{sub}"
    for key in found:
        s3.put_object_retention(Bucket=bucket, Key=key, BypassGovernanceRetention=True,
                                Retention={"Mode": "GOVERNANCE", "RetainUntilDate": until})
    print(f"{len(found)} objects now retained until {until}")


def versions(prefix):
    current = set(keys(prefix))
    seen = []
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix + "/"):
        assert not page.get("DeleteMarkers"), f"delete markers: {[m['Key'] for m in page['DeleteMarkers']]}"
        seen += [v["Key"] for v in page.get("Versions", [])]
    stale = [k for k in seen if k not in current]
    assert not stale, f"versions of deleted objects remain: {stale[:5]}"
    assert len(seen) == len(current), f"{len(seen)} versions for {len(current)} objects"
    print(f"{len(current)} objects, one version each")


def refuses(prefix):
    key = keys(prefix, "data/")[0]
    version = s3.head_object(Bucket=bucket, Key=key)["VersionId"]
    try:
        s3.delete_object(Bucket=bucket, Key=key, VersionId=version)
    except botocore.exceptions.ClientError as e:
        assert e.response["Error"]["Code"] == "AccessDenied", e
        print(f"the server refused to delete {key}")
        return
    raise AssertionError(f"the server deleted retained {key}")


def download(prefix, target):
    for key in keys(prefix):
        path = os.path.join(target, key[len(prefix) + 1:])
        os.makedirs(os.path.dirname(path), exist_ok=True)
        s3.download_file(bucket, key, path)


def start_upload(prefix, name):
    key = prefix + "/" + name
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=1, Body=b"u" * (5 << 20))
    print(upload)


def uploads(prefix):
    found = []
    for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=bucket,
                                                                     Prefix=prefix + "/"):
        found += page.get("Uploads", [])
    return found


command, args = sys.argv[1], sys.argv[2:]
if command == "count":
    print(len(keys(*args)))
elif command == "uploads":
    print(len(uploads(*args)))
else:
    {"retained": retained, "shorten": shorten, "versions": versions, "refuses": refuses,
     "download": download, "start-upload": start_upload}[command](*args)

"""The S3 client (the official ``minio`` SDK). It blocks: call it through ``asyncio.to_thread``."""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import certifi
import urllib3
from minio import Minio
from minio.error import S3Error

from emk_common.settings import ServiceSettings


def s3_client(settings: ServiceSettings) -> Minio:
    """The S3 client, every call bounded.

    The SDK's own HTTP pool waits five minutes for a connection or for data and retries
    five times with backoff, 5xx answers included: with S3 away or frozen a request would
    hang for minutes. Here connecting and each wait for data have short timeouts, and only
    a connection that could not be opened is retried (once, at once; nothing was sent). A
    request then fails within 2 s and answers 503 (:mod:`emk_common.unavailable`); the pool
    opens fresh connections once S3 is back.
    """
    endpoint = urlsplit(settings.s3_endpoint)
    http = urllib3.PoolManager(
        timeout=urllib3.Timeout(
            connect=settings.s3_connect_timeout_seconds, read=settings.s3_read_timeout_seconds
        ),
        maxsize=10,
        cert_reqs="CERT_REQUIRED",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
        retries=urllib3.Retry(
            total=1, connect=1, read=0, status=0, other=0, respect_retry_after_header=False
        ),
    )
    return Minio(
        endpoint.netloc or endpoint.path,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key,
        region=settings.s3_region,
        secure=endpoint.scheme == "https",
        http_client=http,
    )


def ensure_bucket(client: Minio, bucket: str) -> None:
    if client.bucket_exists(bucket):
        return
    try:
        client.make_bucket(bucket)
    except S3Error as exc:  # another replica made it first
        if exc.code not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
            raise

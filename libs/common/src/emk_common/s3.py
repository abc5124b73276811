"""The S3 client (the official ``minio`` SDK). It blocks: call it through ``asyncio.to_thread``."""

from __future__ import annotations

from urllib.parse import urlsplit

from minio import Minio
from minio.error import S3Error

from emk_common.settings import ServiceSettings


def s3_client(settings: ServiceSettings) -> Minio:
    endpoint = urlsplit(settings.s3_endpoint)
    return Minio(
        endpoint.netloc or endpoint.path,
        access_key=settings.s3_access_key,
        secret_key=settings.s3_secret_key,
        region=settings.s3_region,
        secure=endpoint.scheme == "https",
    )


def ensure_bucket(client: Minio, bucket: str) -> None:
    if client.bucket_exists(bucket):
        return
    try:
        client.make_bucket(bucket)
    except S3Error as exc:  # another replica made it first
        if exc.code not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
            raise

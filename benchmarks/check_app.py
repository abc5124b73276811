"""The baseline of the public check: a bare FastAPI endpoint doing the same indexed lookup by
code (one ``find_one`` on a unique index of MongoDB), nothing else."""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI, Response
from pymongo import AsyncMongoClient

client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(os.environ["MONGODB_URI"])
codes = client[os.environ["BENCH_CHECK_DATABASE"]]["codes"]
app = FastAPI()


@app.get("/verify/{code}")
async def verify(code: str) -> Response:
    found = await codes.find_one({"code": code}, {"_id": 0, "code": 0})
    if found is None:
        return Response(status_code=404)
    return Response(str(found), media_type="application/json")

"""Reference EKS token from botocore, the library behind `aws eks get-token`.

Builds the same presigned STS GetCallerIdentity URL the AWS CLI builds (the
x-k8s-aws-id header injected before signing, 60 s expiry, regional endpoint)
with fixed credentials and a fixed signing time, and prints the token. Used by
the Rust test `aws::token::tests::token_matches_botocore`.
"""

import argparse
import base64
import datetime
from unittest import mock

import botocore.session
from botocore.config import Config

HEADER = "x-k8s-aws-id"


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--access-key", required=True)
    p.add_argument("--secret-key", required=True)
    p.add_argument("--session-token")
    p.add_argument("--region", required=True)
    p.add_argument("--cluster", required=True)
    p.add_argument("--epoch", type=int, required=True)
    a = p.parse_args()

    session = botocore.session.get_session()
    sts = session.create_client(
        "sts",
        region_name=a.region,
        aws_access_key_id=a.access_key,
        aws_secret_access_key=a.secret_key,
        aws_session_token=a.session_token,
        config=Config(signature_version="v4"),
        endpoint_url=f"https://sts.{a.region}.amazonaws.com",
    )

    def take_param(params, context, **_):
        if HEADER in params:
            context[HEADER] = params.pop(HEADER)

    def add_header(request, **_):
        if HEADER in request.context:
            request.headers[HEADER] = request.context[HEADER]

    sts.meta.events.register("provide-client-params.sts.GetCallerIdentity", take_param)
    sts.meta.events.register("before-sign.sts.GetCallerIdentity", add_header)

    fixed = datetime.datetime.fromtimestamp(a.epoch, tz=datetime.timezone.utc)

    class FrozenDatetime(datetime.datetime):
        @classmethod
        def utcnow(cls):
            return fixed.replace(tzinfo=None)

        @classmethod
        def now(cls, tz=None):
            return fixed if tz else fixed.replace(tzinfo=None)

    with mock.patch("botocore.auth.datetime.datetime", FrozenDatetime):
        url = sts.generate_presigned_url(
            "get_caller_identity", Params={HEADER: a.cluster}, ExpiresIn=60, HttpMethod="GET"
        )
    token = "k8s-aws-v1." + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")
    print(token)


if __name__ == "__main__":
    main()

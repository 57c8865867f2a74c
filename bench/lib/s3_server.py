#!/usr/bin/env python3
"""s3_server.py DIR [unchecked]

Starts moto's standalone S3 server (PyPI moto[server], as the tests use it) on a free port of
127.0.0.1 with signature checking on: the first three requests create an IAM user, its key
and an allow-s3 policy, unsigned; every request after them is SigV4-checked — unless
"unchecked" is given (rclone lists with delimiter=%2F, which moto's check refuses: it checks
against the query as decoded). Writes
DIR/credentials (AWS shared-credentials format) and DIR/endpoint, prints the server's pid,
and leaves the server running (the caller kills it).
"""
import os, re, shutil, socket, subprocess, sys, time, urllib.parse, urllib.request

work = sys.argv[1]
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
command = [shutil.which("moto_server")] if shutil.which("moto_server") else [sys.executable, "-m", "moto.server"]
checked = sys.argv[2:] != ["unchecked"]
env = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT="3" if checked else "inf")
server = subprocess.Popen(command + ["-H", "127.0.0.1", "-p", str(port)], env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
endpoint = f"http://127.0.0.1:{port}"
for _ in range(300):
    try:
        urllib.request.urlopen(endpoint + "/moto-api/", timeout=1)
        break
    except Exception:
        time.sleep(0.1)
else:
    server.kill()
    sys.exit("s3_server.py: moto_server did not start")

def iam(form):
    request = urllib.request.Request(endpoint + "/", data=(form + "&Version=2010-05-08").encode(), headers={
        "Authorization": "AWS4-HMAC-SHA256 Credential=setup/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0"})
    return urllib.request.urlopen(request).read().decode()

iam("Action=CreateUser&UserName=bench")
key = iam("Action=CreateAccessKey&UserName=bench")
policy = '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}'
iam("Action=PutUserPolicy&UserName=bench&PolicyName=all&PolicyDocument=" + urllib.parse.quote(policy))
access = re.search("<AccessKeyId>(.*?)</AccessKeyId>", key).group(1)
secret = re.search("<SecretAccessKey>(.*?)</SecretAccessKey>", key).group(1)
with open(os.path.join(work, "credentials"), "w") as f:
    f.write(f"[default]\naws_access_key_id = {access}\naws_secret_access_key = {secret}\n")
with open(os.path.join(work, "endpoint"), "w") as f:
    f.write(endpoint)
print(server.pid)

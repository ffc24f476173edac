#!/usr/bin/env bash
# Writes a throwaway CA (ca.pem) and a server certificate for 127.0.0.1/localhost signed by it
# (cert.pem, key.pem) into DIR, for `imagebuildd simulate --tls-dir DIR` and the TLS tests, and a
# client certificate signed by the same CA (client.pem, client-key.pem) for etcd's --client-cert-auth
# (the server certificate allows clientAuth too: etcd's JSON gateway dials its own gRPC port with it).
set -euo pipefail
dir=${1:?usage: gen-test-ca.sh DIR}
mkdir -p "$dir"
cd "$dir"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=imagebuildd test CA" \
    -keyout ca-key.pem -out ca.pem -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout key.pem -out server.csr 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth,clientAuth\n' > server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -sha256 \
    -extfile server.ext -out cert.pem 2>/dev/null
openssl req -newkey rsa:2048 -nodes -subj "/CN=imagebuildd" -keyout client-key.pem -out client.csr 2>/dev/null
printf 'basicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n' > client.ext
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -sha256 \
    -extfile client.ext -out client.pem 2>/dev/null
rm -f server.csr server.ext client.csr client.ext ca.srl
chmod 600 key.pem ca-key.pem client-key.pem

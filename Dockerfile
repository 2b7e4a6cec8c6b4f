# callbackd: one static binary on a small Debian image.
#
#   docker build -t callbackd .
#   docker run -d -v callbackd:/var/lib/callbackd -p 127.0.0.1:4573:4573 -p 127.0.0.1:8080:8080 \
#     -e CALLBACKD_ARI_URL=http://asterisk:8088 -e CALLBACKD_ARI_PASSWORD=... callbackd
#   docker exec <container> callbackd init      # seed a first setup in the volume
#
# It runs as nobody; its data (the embedded store) lives in the volume
# /var/lib/callbackd, which is also its working directory. FastAGI and HTTP
# listen on every address of the container, so EXPOSE holds.
FROM golang:1.26-bookworm AS build
ARG VERSION=""
ARG COMMIT=""
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w -X main.version=${VERSION} -X main.commit=${COMMIT}" -o /out/callbackd ./cmd/callbackd \
	&& mkdir -p /out/state

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates tzdata && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/callbackd /usr/local/bin/callbackd
COPY --from=build --chown=65534:65534 /out/state /var/lib/callbackd
COPY examples/callbackd.yaml examples/rates.csv /usr/share/doc/callbackd/examples/
ENV CALLBACKD_DATABASE_SQLITE_PATH=/var/lib/callbackd/callbackd.db \
	CALLBACKD_AGI_LISTEN=0.0.0.0:4573 \
	CALLBACKD_HTTP_LISTEN=0.0.0.0:8080
WORKDIR /var/lib/callbackd
VOLUME /var/lib/callbackd
USER 65534:65534
# FastAGI and HTTP (API, web page, /metrics, /healthz, /readyz). SMTP is off
# unless CALLBACKD_SMTP_LISTEN is set (then publish it yourself).
EXPOSE 4573 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["/usr/local/bin/callbackd", "health"]
ENTRYPOINT ["/usr/local/bin/callbackd"]
CMD ["serve"]

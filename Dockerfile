# callbackd: one static binary on a small Debian image.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/callbackd ./cmd/callbackd

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates tzdata && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/callbackd /usr/local/bin/callbackd
USER nobody
EXPOSE 4573 8080 2525
ENTRYPOINT ["/usr/local/bin/callbackd"]
CMD ["serve"]

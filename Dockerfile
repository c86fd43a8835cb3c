# syntax=docker/dockerfile:1
# Builds signet and the two demo resource servers into one small image.
# /var/lib/shop-api holds shop-api's client key (a volume in docker-compose.yml).
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/signet ./cmd/signet \
 && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/shop-api ./cmd/shop-api \
 && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/video-api ./cmd/video-api

FROM alpine:3.20
RUN addgroup -S -g 10001 signet && adduser -S -u 10001 -G signet -h /var/lib/signet signet \
 && install -d -o signet -g signet -m 700 /var/lib/shop-api
COPY --from=build /out/ /usr/local/bin/
USER signet
WORKDIR /var/lib/signet
ENV SIGNET_ADDR=0.0.0.0:8080 SIGNET_DATA_DIR=/var/lib/signet/data
EXPOSE 8080
ENTRYPOINT ["signet"]
CMD ["serve"]

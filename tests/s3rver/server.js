#!/usr/bin/env node
// Starts the test S3 server (@20minutes/s3rver) on 127.0.0.1.
//
//   node tests/s3rver/server.js --port 0 --dir DIR [--key-id ID --secret SECRET]
//                               [--allow-mismatched] [--access-log FILE]
//
// Once listening it prints one line "listening PORT" on stdout, so a caller
// that asked for port 0 learns the port the kernel chose; otherwise it is
// silent. SIGTERM and SIGINT close it and exit 0.
//
// The server checks SigV4 signatures. Its built-in key pair S3RVER/S3RVER has
// equal key id and secret, which would hide a client that mixes them up, so
// callers pass a distinct pair with --key-id/--secret. --allow-mismatched
// accepts bad signatures; only peers with signing quirks (Debian's s3fs, see
// DESIGN.md) need it, odofs's own tests never pass it. --access-log appends
// one line per answered request, "METHOD URL STATUS RANGE" (RANGE: the Range
// header or "-"), so tests can count what a client asked for.
//
// Three bugs of s3rver 5.0.0 that would show a correct client a wrong tree
// are fixed here, in memory, without touching the package (see fixS3rver):
// truncated listings failing on OpenSSL 3, folders holding only folders
// missing from delimiter listings, and keys with ' & < > ` escaped twice.
// Its signature quirks (DESIGN.md) are left as they are.
'use strict'

const path = require('node:path')

function usage(msg) {
  if (msg) process.stderr.write(`server.js: ${msg}\n`)
  process.stderr.write(
    'usage: node server.js --port PORT --dir DIR [--key-id ID --secret SECRET]\n' +
      '                      [--allow-mismatched] [--access-log FILE]\n'
  )
  process.exit(2)
}

function parseArgs(argv) {
  const opts = {
    port: 0,
    dir: null,
    keyId: null,
    secret: null,
    allowMismatched: false,
    accessLog: null,
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const val = () => {
      if (i + 1 >= argv.length) usage(`${a} needs a value`)
      return argv[++i]
    }
    switch (a) {
      case '--port': {
        const v = val()
        if (!/^\d+$/.test(v) || Number(v) > 65535) usage(`bad port: ${v}`)
        opts.port = Number(v)
        break
      }
      case '--dir':
        opts.dir = path.resolve(val())
        break
      case '--key-id':
        opts.keyId = val()
        break
      case '--secret':
        opts.secret = val()
        break
      case '--allow-mismatched':
        opts.allowMismatched = true
        break
      case '--access-log':
        opts.accessLog = path.resolve(val())
        break
      case '-h':
      case '--help':
        usage()
        break
      default:
        usage(`unknown argument: ${a}`)
    }
  }
  if (!opts.dir) usage('--dir is required')
  if ((opts.keyId === null) !== (opts.secret === null)) usage('--key-id and --secret go together')
  return opts
}

// s3rver makes ListObjectsV2 continuation tokens with single DES ('des',
// i.e. des-cbc), which OpenSSL 3 only has in its legacy provider: without it
// every truncated list (more than max-keys results) fails with 500
// InternalError (ERR_OSSL_EVP_UNSUPPORTED). Two-key triple DES with both
// halves equal computes exactly single DES, so map 'des' onto 'des-ede-cbc'
// with the key doubled: the same tokens, from the default provider.
function provideSingleDes() {
  const crypto = require('node:crypto')
  try {
    crypto.createCipheriv('des', Buffer.alloc(8), Buffer.alloc(8))
    return
  } catch {
    // not available: wrap below
  }
  const wrap = (orig) =>
    function (algorithm, key, iv, options) {
      if (typeof algorithm === 'string' && algorithm.toLowerCase() === 'des') {
        const k = Buffer.from(key)
        return orig.call(this, 'des-ede-cbc', Buffer.concat([k, k]), iv, options)
      }
      return orig.call(this, algorithm, key, iv, options)
    }
  crypto.createCipheriv = wrap(crypto.createCipheriv)
  crypto.createDecipheriv = wrap(crypto.createDecipheriv)
}

// s3rver's FilesystemStore.listObjects walks the bucket's folders and, with a
// delimiter, skips every folder two levels below the prefix: a folder that
// holds only folders (keys "top/a/b/x" under prefix "top/") then yields no
// common prefix at all, so "top/a/" is missing from the listing. It also
// visits keys in folder order ("a/x" before "a"), not S3's byte order, which
// makes pages skip keys. This replacement collects the keys under the prefix,
// sorts them by their UTF-8 bytes as S3 does, and groups them on the
// delimiter. Paging stays s3rver's: max-keys counts objects, and the
// continuation token is the last object's key.
function fixListObjects(requireS3rver) {
  const FilesystemStore = requireS3rver('lib/stores/filesystem')
  const S3Object = requireS3rver('lib/models/object')
  const { walk } = requireS3rver('lib/utils')
  const OBJECT_SUFFIX = '._S3rver_object'

  FilesystemStore.prototype.listObjects = async function listObjects(bucket, options) {
    const { delimiter = '', startAfter = '', prefix = '', maxKeys = Infinity } = options
    const bucketPath = this.getBucketPath(bucket)
    // Walk only the deepest folder that holds every key with this prefix.
    const slash = prefix.lastIndexOf('/')
    const top =
      slash === -1
        ? bucketPath
        : path.join(bucketPath, FilesystemStore.encodeKeyPath(prefix.slice(0, slash)))

    const found = []
    try {
      for (const file of walk(top)) {
        if (!file.endsWith(OBJECT_SUFFIX)) continue
        const key = FilesystemStore.decodeKeyPath(
          file.slice(bucketPath.length + 1, -OBJECT_SUFFIX.length)
        )
        if (key.startsWith(prefix)) found.push({ key, bytes: Buffer.from(key, 'utf8') })
      }
    } catch (err) {
      if (err.code !== 'ENOENT' && err.code !== 'ENOTDIR') throw err
    }
    found.sort((a, b) => Buffer.compare(a.bytes, b.bytes))
    const after = Buffer.from(startAfter || '', 'utf8')

    const keys = []
    const commonPrefixes = new Set()
    let isTruncated = false
    for (const { key, bytes } of found) {
      if (startAfter && Buffer.compare(bytes, after) <= 0) continue
      if (delimiter) {
        const idx = key.indexOf(delimiter, prefix.length)
        if (idx !== -1) {
          if (keys.length >= maxKeys) {
            isTruncated = true
            break
          }
          commonPrefixes.add(key.slice(0, idx + delimiter.length))
          continue
        }
      }
      if (keys.length >= maxKeys) {
        isTruncated = true
        break
      }
      keys.push(key)
    }

    const metadata = await Promise.all(
      keys.map((key) =>
        this.getMetadata(bucket, key).catch((err) => {
          if (err.code === 'ENOENT') return undefined
          throw err
        })
      )
    )
    const objects = []
    keys.forEach((key, i) => {
      if (metadata[i] !== undefined) objects.push(new S3Object(bucket, key, null, metadata[i]))
    })
    return {
      objects,
      commonPrefixes: [...commonPrefixes].sort((a, b) =>
        Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
      ),
      isTruncated,
    }
  }
}

// s3rver escapes XML text with he.escape and then again in its XML builder,
// so a key holding ' & < > or ` is listed as, e.g., "a&#x27;b" instead of
// "a'b". The builder's escaping is enough on its own.
function fixDoubleEscaping(requireS3rver) {
  const he = requireS3rver('he')
  he.escape = (text) => String(text)
}

function logRequests(httpServer, file) {
  const fs = require('node:fs')
  const fd = fs.openSync(file, 'a')
  httpServer.on('request', (req, res) => {
    res.on('finish', () => {
      fs.writeSync(fd, `${req.method} ${req.url} ${res.statusCode} ${req.headers.range || '-'}\n`)
    })
  })
}

function fixS3rver(requireS3rver) {
  provideSingleDes()
  fixListObjects(requireS3rver)
  fixDoubleEscaping(requireS3rver)
}

async function main() {
  const opts = parseArgs(process.argv.slice(2))
  // Resolve the package from this folder's node_modules (npm install --prefix
  // tests/s3rver), wherever the caller's cwd is; its own dependencies (he)
  // from the package's folder, so the instance is the one it uses.
  const pkgMain = require.resolve('@20minutes/s3rver', { paths: [__dirname] })
  const pkgDir = path.dirname(require.resolve('@20minutes/s3rver/package.json', { paths: [__dirname] }))
  const requireS3rver = (name) =>
    require(
      name.startsWith('lib/')
        ? path.join(pkgDir, name)
        : require.resolve(name, { paths: [pkgDir] })
    )
  fixS3rver(requireS3rver)
  const S3rver = require(pkgMain)
  const account = requireS3rver('lib/models/account')
  if (opts.keyId !== null) account.DUMMY_ACCOUNT.createKeyPair(opts.keyId, opts.secret)

  const server = new S3rver({
    address: '127.0.0.1',
    port: opts.port,
    directory: opts.dir,
    silent: true,
    allowMismatchedSignatures: opts.allowMismatched,
    // Path-style only: a Host of 127.0.0.1 is never taken as a bucket name.
    vhostBuckets: false,
  })
  const addr = await server.run()
  if (opts.accessLog) logRequests(server.httpServer, opts.accessLog)

  let closing = false
  const stop = () => {
    if (closing) return
    closing = true
    // Keep-alive connections would hold close() open; do not wait for them.
    const timer = setTimeout(() => process.exit(0), 2000)
    timer.unref()
    if (server.httpServer?.closeAllConnections) server.httpServer.closeAllConnections()
    server.close().then(
      () => process.exit(0),
      () => process.exit(0)
    )
  }
  process.on('SIGTERM', stop)
  process.on('SIGINT', stop)

  process.stdout.write(`listening ${addr.port}\n`)
}

main().catch((err) => {
  process.stderr.write(`server.js: ${err?.stack ? err.stack : err}\n`)
  process.exit(1)
})

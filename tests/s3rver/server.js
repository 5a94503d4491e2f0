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
// So that odofs's writes meet the S3 they will meet in production, the same
// way it also adds what s3rver lacks or gets wrong there: AbortMultipartUpload
// and ListMultipartUploads (both missing); Content-MD5 verified on PutObject
// and UploadPart (400 BadDigest, nothing stored); x-amz-copy-source decoded
// whole (keys with # $ & + , : ; = ? @) with its if-match, if-none-match and
// if-(un)modified-since conditions honoured (412); NoSuchUpload for unknown
// upload ids and InvalidPart/InvalidPartOrder for a completion whose part
// list does not match the stored parts; S3's composite ETag for a completed
// multipart upload. And two store bugs: a CopyObject
// with REPLACE onto an existing key kept that key's old ETag, and a range
// ending at byte 0 (bytes=0-0) gave the whole object.
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

// s3rver keeps a multipart upload in the bucket's "._S3rver_uploads" folder,
// one folder per upload id (32 hex digits) holding the files key, metadata,
// and N and N.md5 for each part N.
const UPLOAD_ID = /^[0-9a-f]{32}$/

function uploadsPath(store, bucket) {
  return store.getResourcePath(bucket, undefined, 'uploads')
}

// The folder of upload `uploadId` of `key`; NoSuchUpload, as S3 answers, for
// an id never issued, one completed or aborted already, or another key's.
async function findUpload(S3Error, store, bucket, key, uploadId) {
  const fsp = require('node:fs/promises')
  let stored = null
  const dir = UPLOAD_ID.test(uploadId) ? path.join(uploadsPath(store, bucket), uploadId) : null
  if (dir) {
    try {
      stored = await fsp.readFile(path.join(dir, 'key'), 'utf8')
    } catch (err) {
      if (err.code !== 'ENOENT' && err.code !== 'ENOTDIR') throw err
    }
  }
  if (stored === null || stored !== key) {
    throw new S3Error(
      'NoSuchUpload',
      'The specified upload does not exist. The upload ID may be invalid, ' +
        'or the upload may have been aborted or completed.',
      { UploadId: String(uploadId) }
    )
  }
  return dir
}

// The uploads in progress in `bucket`: [{ key, uploadId, initiated }], in
// no order; initiated is when the upload's key file was written.
async function listUploads(store, bucket) {
  const fsp = require('node:fs/promises')
  const dir = uploadsPath(store, bucket)
  let names
  try {
    names = await fsp.readdir(dir)
  } catch (err) {
    if (err.code === 'ENOENT') return []
    throw err
  }
  const found = await Promise.all(
    names
      .filter((name) => UPLOAD_ID.test(name))
      .map(async (uploadId) => {
        const keyPath = path.join(dir, uploadId, 'key')
        try {
          const [key, stat] = await Promise.all([fsp.readFile(keyPath, 'utf8'), fsp.stat(keyPath)])
          return { key, uploadId, initiated: stat.mtime }
        } catch (err) {
          // aborted or completed meanwhile
          if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return null
          throw err
        }
      })
  )
  return found.filter(Boolean)
}

// Runs `handler` for requests to the route METHOD ROUTEPATH of s3rver's
// router whose query names `queryMethod` (routes.js's queryMethod middleware
// puts that name in ctx.params.queryMethod), s3rver's own handler for all
// others. Layers are looked up at request time, so editing a layer's stack
// before or after the app mounts the router both work.
function routeQueryMethod(router, method, routePath, queryMethod, handler) {
  const layer = router.stack.find((l) => l.path === routePath && l.methods.includes(method))
  if (!layer) throw new Error(`s3rver has no route ${method} ${routePath}`)
  const last = layer.stack.length - 1
  const original = layer.stack[last]
  layer.stack[last] = function routeByQueryMethod(ctx, next) {
    return ctx.params.queryMethod === queryMethod ? handler(ctx) : original(ctx, next)
  }
}

// s3rver has no AbortMultipartUpload: DELETE /bucket/key?uploadId=ID falls to
// "method not allowed" (405), and an abandoned upload's parts stay on disk
// and in the list of uploads for good. This answers it as S3 does: 204 once
// the upload's folder (key, metadata, parts) is removed; 404 NoSuchUpload for
// an id that is not in progress for that key.
function addAbortMultipartUpload(requireS3rver) {
  const fsp = require('node:fs/promises')
  const router = requireS3rver('lib/routes')
  const S3Error = requireS3rver('lib/models/error')

  routeQueryMethod(router, 'DELETE', '/:bucket/*key', 'uploadId', async (ctx) => {
    const { bucket, key } = ctx.params
    const dir = await findUpload(S3Error, ctx.store, bucket, key, ctx.query.uploadId)
    await fsp.rm(dir, { recursive: true, force: true })
    ctx.logger.info('Aborted upload %s of "%s" in bucket "%s"', ctx.query.uploadId, key, bucket)
    ctx.status = 204
  })
}

// s3rver answers ListMultipartUploads (GET /bucket?uploads) with 501
// NotImplemented, so a client cannot find the uploads it left behind. This
// lists the uploads in the bucket's uploads folder as S3 does: ordered by key
// (UTF-8 bytes), then by initiation; prefix, delimiter (CommonPrefixes),
// max-uploads (at most 1000) and the key-marker/upload-id-marker paging, with
// NextKeyMarker/NextUploadIdMarker set to the last entry listed.
// encoding-type is ignored, as s3rver's ListObjects ignores it.
function addListMultipartUploads(requireS3rver) {
  const router = requireS3rver('lib/routes')
  const S3Error = requireS3rver('lib/models/error')
  const { DUMMY_ACCOUNT } = requireS3rver('lib/models/account')
  const cmp = (a, b) => Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))

  routeQueryMethod(router, 'GET', '/:bucket', 'uploads', async (ctx) => {
    const arg = (name) => (typeof ctx.query[name] === 'string' ? ctx.query[name] : '')
    const prefix = arg('prefix')
    const delimiter = arg('delimiter')
    const keyMarker = arg('key-marker')
    // S3 ignores upload-id-marker without key-marker.
    const uploadIdMarker = keyMarker ? arg('upload-id-marker') : ''
    let maxUploads = 1000
    if ('max-uploads' in ctx.query) {
      const value = ctx.query['max-uploads']
      if (!/^\d+$/.test(value) || Number(value) > 2147483647) {
        throw new S3Error(
          'InvalidArgument',
          'Provided max-uploads not an integer or within integer range',
          { ArgumentName: 'max-uploads', ArgumentValue: String(value) }
        )
      }
      maxUploads = Math.min(1000, Number(value))
    }

    const all = (await listUploads(ctx.store, ctx.params.bucket)).filter((u) =>
      u.key.startsWith(prefix)
    )
    all.sort(
      (a, b) => cmp(a.key, b.key) || a.initiated - b.initiated || cmp(a.uploadId, b.uploadId)
    )
    // What an earlier page listed: keys up to the key marker, and the key
    // marker's own uploads up to the upload id marker.
    const markerAt = all.findIndex((u) => u.key === keyMarker && u.uploadId === uploadIdMarker)
    const rest = all.filter((u, i) => {
      if (!keyMarker) return true
      const order = cmp(u.key, keyMarker)
      if (order !== 0 || !uploadIdMarker) return order > 0
      return markerAt !== -1 ? i > markerAt : cmp(u.uploadId, uploadIdMarker) > 0
    })

    const uploads = []
    const prefixes = []
    let last = null
    let isTruncated = false
    for (const u of rest) {
      let common = null
      if (delimiter) {
        const at = u.key.indexOf(delimiter, prefix.length)
        if (at !== -1) common = u.key.slice(0, at + delimiter.length)
      }
      // A common prefix is listed once, and not again on the page after it.
      if (common !== null) {
        const listed = prefixes.at(-1) === common || (keyMarker && cmp(common, keyMarker) <= 0)
        if (listed) continue
      }
      if (uploads.length + prefixes.length >= maxUploads) {
        isTruncated = maxUploads > 0
        break
      }
      if (common !== null) {
        prefixes.push(common)
        last = { key: common, uploadId: '' }
      } else {
        uploads.push(u)
        last = u
      }
    }

    const owner = { ID: DUMMY_ACCOUNT.id, DisplayName: DUMMY_ACCOUNT.displayName }
    ctx.body = {
      ListMultipartUploadsResult: {
        '@': { xmlns: 'http://s3.amazonaws.com/doc/2006-03-01/' },
        Bucket: ctx.params.bucket,
        KeyMarker: keyMarker,
        UploadIdMarker: uploadIdMarker,
        NextKeyMarker: last ? last.key : '',
        NextUploadIdMarker: last ? last.uploadId : '',
        Delimiter: delimiter || undefined,
        Prefix: prefix,
        MaxUploads: maxUploads,
        IsTruncated: isTruncated,
        Upload: uploads.map((u) => ({
          Key: u.key,
          UploadId: u.uploadId,
          Initiator: owner,
          Owner: owner,
          StorageClass: 'STANDARD',
          Initiated: u.initiated.toISOString(),
        })),
        CommonPrefixes: prefixes.map((p) => ({ Prefix: p })),
      },
    }
  })
}

// s3rver ignores Content-MD5: a PUT Object or UploadPart whose body was
// damaged on the way is stored as if whole, where S3 refuses it with 400
// BadDigest (400 InvalidDigest when the header is not a base64 MD5) and
// stores nothing. With the header present, this stores the body into a
// temporary file beside its destination while hashing it, and only when the
// digest matches renames it into place (so a refused PUT leaves no object,
// no part, and an existing object or part as it was); otherwise deletes it
// and throws BadDigest. Without the header, s3rver stores as before. The
// temporary files ("._S3rver_tmp-*") are never listed.
function verifyContentMd5(requireS3rver) {
  const crypto = require('node:crypto')
  const fs = require('node:fs')
  const { Readable, Transform } = require('node:stream')
  const { pipeline } = require('node:stream/promises')
  const objectCtrl = requireS3rver('lib/controllers/object')
  const S3Error = requireS3rver('lib/models/error')
  const { ensureDir } = requireS3rver('lib/utils')

  // The MD5 the client announced, as hex; null without the header.
  const announcedMd5 = (ctx) => {
    if (!('content-md5' in ctx.headers)) return null
    const header = String(ctx.headers['content-md5']).trim()
    if (!/^[A-Za-z0-9+/]{22}==$/.test(header)) {
      throw new S3Error('InvalidDigest', 'The Content-MD5 you specified is not valid.', {
        'Content-MD5': header,
      })
    }
    return Buffer.from(header, 'base64').toString('hex')
  }

  // Writes `content` to a new file in `dir`, hashing it on the way; if its
  // MD5 is `want`, `install(tmp, md5)` moves it into place.
  const storeVerified = async (content, dir, want, install) => {
    const tmp = path.join(dir, `._S3rver_tmp-${crypto.randomBytes(8).toString('hex')}`)
    const hash = crypto.createHash('md5')
    let size = 0
    try {
      await pipeline(
        Buffer.isBuffer(content) ? Readable.from([content]) : content,
        new Transform({
          transform(chunk, encoding, callback) {
            hash.update(chunk)
            size += chunk.length
            callback(null, chunk)
          },
        }),
        fs.createWriteStream(tmp)
      )
      const md5 = hash.digest('hex')
      if (md5 !== want) {
        throw new S3Error(
          'BadDigest',
          'The Content-MD5 you specified did not match what we received.',
          {
            ExpectedDigest: Buffer.from(want, 'hex').toString('base64'),
            CalculatedDigest: Buffer.from(md5, 'hex').toString('base64'),
          }
        )
      }
      await install(tmp, md5)
      return { size, md5 }
    } finally {
      await fs.promises.rm(tmp, { force: true })
    }
  }

  // The controllers stay s3rver's; only the store they see for this one
  // request verifies.
  const putObject = objectCtrl.putObject
  objectCtrl.putObject = async function putObjectVerified(ctx) {
    const want = announcedMd5(ctx)
    if (want === null) return putObject(ctx)
    const store = ctx.store
    ctx.store = Object.create(store)
    ctx.store.putObject = (object) =>
      storeVerified(object.content, store.getBucketPath(object.bucket), want, async (tmp, md5) => {
        const objectPath = store.getResourcePath(object.bucket, object.key, 'object')
        await ensureDir(path.dirname(objectPath))
        await fs.promises.rename(tmp, objectPath)
        await store.putMetadata(object.bucket, object.key, object.metadata, md5)
      })
    return putObject(ctx)
  }

  const uploadPart = objectCtrl.uploadPart
  objectCtrl.uploadPart = async function uploadPartVerified(ctx) {
    const want = announcedMd5(ctx)
    if (want === null) return uploadPart(ctx)
    const store = ctx.store
    ctx.store = Object.create(store)
    ctx.store.putPart = (bucket, uploadId, partNumber, content) => {
      const partPath = path.join(uploadsPath(store, bucket), uploadId, String(partNumber))
      return storeVerified(content, path.dirname(partPath), want, async (tmp, md5) => {
        await fs.promises.rename(tmp, partPath)
        await fs.promises.writeFile(`${partPath}.md5`, md5)
      })
    }
    return uploadPart(ctx)
  }
}

// s3rver decodes x-amz-copy-source (CopyObject, UploadPartCopy) with
// decodeURI, which leaves %23 %24 %26 %2B %2C %2F %3A %3B %3D %3F %40 as
// they are: copying a key holding # $ & + , : ; = ? or @ looks up another
// key (NoSuchKey, or the wrong object), and a "?versionId=" suffix becomes
// part of the key. It also ignores the x-amz-copy-source-if-* conditions.
// This decodes the header as S3 does (drop "?versionId=...", since s3rver
// keeps no versions, then decodeURIComponent), hands s3rver's controller
// encodeURI of the result (which its decodeURI turns back exactly), and
// answers 412 PreconditionFailed as S3 does when a condition on the source
// fails: if-match (an ETag list or *) or else if-unmodified-since; and
// if-none-match or else if-modified-since.
function fixCopySource(requireS3rver) {
  const objectCtrl = requireS3rver('lib/controllers/object')
  const S3Error = requireS3rver('lib/models/error')

  const parseCopySource = (ctx) => {
    const header = String(ctx.headers['x-amz-copy-source'])
    const invalid = (message) =>
      new S3Error('InvalidArgument', message, {
        ArgumentName: 'x-amz-copy-source',
        ArgumentValue: header,
      })
    let source = header.replace(/\?versionId=[^&]*$/, '')
    try {
      source = decodeURIComponent(source)
    } catch {
      throw invalid('Invalid copy source encoding.')
    }
    if (source.startsWith('/')) source = source.slice(1)
    const slash = source.indexOf('/')
    if (slash < 1 || slash === source.length - 1) throw invalid('Invalid copy source object key')
    return { bucket: source.slice(0, slash), key: source.slice(slash + 1) }
  }

  const checkConditions = async (ctx, source) => {
    const h = ctx.headers
    const ifMatch = h['x-amz-copy-source-if-match']
    const ifNoneMatch = h['x-amz-copy-source-if-none-match']
    const ifUnmodified = h['x-amz-copy-source-if-unmodified-since']
    const ifModified = h['x-amz-copy-source-if-modified-since']
    if ([ifMatch, ifNoneMatch, ifUnmodified, ifModified].every((v) => v === undefined)) return
    let metadata
    try {
      metadata = await ctx.store.getMetadata(source.bucket, source.key)
    } catch (err) {
      // no source: s3rver's controller answers NoSuchBucket or NoSuchKey
      if (err.code === 'ENOENT' || err.code === 'ENOTDIR') return
      throw err
    }
    const etag = metadata.etag.replace(/"/g, '')
    const matches = (list) =>
      list.split(',').some((tag) => {
        const t = tag.trim().replace(/"/g, '')
        return t === '*' || t === etag
      })
    const date = (value) => {
      const d = value === undefined ? null : new Date(value)
      return d && !Number.isNaN(d.getTime()) ? d : null
    }
    const modified = new Date(metadata['last-modified'])
    let failed = null
    if (ifMatch !== undefined) {
      if (!matches(ifMatch)) failed = 'x-amz-copy-source-If-Match'
    } else if (date(ifUnmodified) && modified > date(ifUnmodified)) {
      failed = 'x-amz-copy-source-If-Unmodified-Since'
    }
    if (failed === null) {
      if (ifNoneMatch !== undefined) {
        if (matches(ifNoneMatch)) failed = 'x-amz-copy-source-If-None-Match'
      } else if (date(ifModified) && modified <= date(ifModified)) {
        failed = 'x-amz-copy-source-If-Modified-Since'
      }
    }
    if (failed !== null) {
      throw new S3Error(
        'PreconditionFailed',
        'At least one of the pre-conditions you specified did not hold',
        { Condition: failed }
      )
    }
  }

  for (const name of ['putObjectCopy', 'uploadPartCopy']) {
    const original = objectCtrl[name]
    objectCtrl[name] = async function copyFromDecodedSource(ctx) {
      const source = parseCopySource(ctx)
      ctx.headers['x-amz-copy-source'] = encodeURI(`${source.bucket}/${source.key}`)
      await checkConditions(ctx, source)
      return original(ctx)
    }
  }
}

// s3rver takes any uploadId: UploadPart to an id it never issued (or one
// aborted or completed) creates a stray upload folder, an unknown id in
// CompleteMultipartUpload gives 500, and partNumber ends up in a file name
// unchecked. CompleteMultipartUpload assembles whatever part files exist, in
// part number order, ignoring the ETags it is given. Following S3, this
// answers 404 NoSuchUpload for an upload not in progress for the key, 400
// InvalidArgument for a partNumber outside 1..10000, and, before assembling
// anything, 400 InvalidPart when a listed part was never uploaded or its
// ETag is not the stored part's, 400 InvalidPartOrder when the part numbers
// do not ascend. A refused completion leaves the upload in progress.
function checkMultipartUploads(requireS3rver) {
  const fsp = require('node:fs/promises')
  const objectCtrl = requireS3rver('lib/controllers/object')
  const S3Error = requireS3rver('lib/models/error')
  const FilesystemStore = requireS3rver('lib/stores/filesystem')

  const requireUpload = (ctx) =>
    findUpload(S3Error, ctx.store, ctx.params.bucket, ctx.params.key, ctx.query.uploadId)
  const requirePartNumber = (ctx) => {
    const n = ctx.query.partNumber
    if (typeof n !== 'string' || !/^[1-9]\d{0,4}$/.test(n) || Number(n) > 10000) {
      throw new S3Error(
        'InvalidArgument',
        'Part number must be an integer between 1 and 10000, inclusive',
        { ArgumentName: 'partNumber', ArgumentValue: String(n) }
      )
    }
  }

  for (const name of ['uploadPart', 'uploadPartCopy']) {
    const original = objectCtrl[name]
    objectCtrl[name] = async function partOfUploadInProgress(ctx) {
      await requireUpload(ctx)
      requirePartNumber(ctx)
      return original(ctx)
    }
  }
  const complete = objectCtrl.completeMultipartUpload
  objectCtrl.completeMultipartUpload = async function completeUploadInProgress(ctx) {
    await requireUpload(ctx)
    return complete(ctx)
  }

  const putObjectMultipart = FilesystemStore.prototype.putObjectMultipart
  FilesystemStore.prototype.putObjectMultipart = async function putCheckedParts(
    bucket,
    uploadId,
    parts
  ) {
    const dir = path.join(uploadsPath(this, bucket), uploadId)
    for (const part of parts) {
      let stored = null
      if (Number.isInteger(part.number) && part.number >= 1 && part.number <= 10000) {
        try {
          stored = await fsp.readFile(path.join(dir, `${part.number}.md5`), 'utf8')
        } catch (err) {
          if (err.code !== 'ENOENT') throw err
        }
      }
      // s3rver's XML parser leaves character references as they are, and
      // some clients (rclone) write the ETag's quotes as &#34;: AWS decodes
      // them, so compare without any spelling of the quotes.
      const etag = String(part.etag).replace(/&#34;|&#x22;|&quot;|"/gi, '')
      if (stored === null || stored !== etag) {
        throw new S3Error(
          'InvalidPart',
          'One or more of the specified parts could not be found. The part may not have ' +
            "been uploaded, or the specified entity tag may not match the part's entity tag.",
          { UploadId: uploadId, PartNumber: String(part.number), ETag: String(part.etag) }
        )
      }
    }
    for (let i = 1; i < parts.length; i++) {
      if (!(parts[i].number > parts[i - 1].number)) {
        throw new S3Error(
          'InvalidPartOrder',
          'The list of parts was not in ascending order. The parts list must be ' +
            'specified in order by part number.',
          { UploadId: uploadId }
        )
      }
    }
    return putObjectMultipart.call(this, bucket, uploadId, parts)
  }
}

// s3rver answers a completed multipart upload's ETag as the MD5 of the
// whole object; S3 answers the MD5 of the parts' binary MD5s, in order,
// then "-" and the number of parts ("9b2c...-3"), and HEAD, GET and
// listings show that too. This computes it from the stored parts' MD5s and
// keeps it as the object's ETag, so a client's exact check of that form
// meets what S3 sends.
function compositeMultipartEtag(requireS3rver) {
  const crypto = require('node:crypto')
  const fsp = require('node:fs/promises')
  const FilesystemStore = requireS3rver('lib/stores/filesystem')
  const putObjectMultipart = FilesystemStore.prototype.putObjectMultipart
  FilesystemStore.prototype.putObjectMultipart = async function putWithCompositeEtag(
    bucket,
    uploadId,
    parts
  ) {
    const dir = path.join(uploadsPath(this, bucket), uploadId)
    const sorted = [...parts].sort((a, b) => a.number - b.number)
    const key = await fsp.readFile(path.join(dir, 'key'), 'utf8')
    const md5s = await Promise.all(
      sorted.map((part) => fsp.readFile(path.join(dir, `${part.number}.md5`), 'utf8'))
    )
    const result = await putObjectMultipart.call(this, bucket, uploadId, parts)
    const hash = crypto.createHash('md5')
    for (const md5 of md5s) hash.update(Buffer.from(md5.trim(), 'hex'))
    const etag = `${hash.digest('hex')}-${md5s.length}`
    await fsp.writeFile(this.getResourcePath(bucket, key, 'object.md5'), etag)
    return { ...result, md5: etag }
  }
}

// s3rver's FilesystemStore.copyObject with x-amz-metadata-directive: REPLACE
// copies the object's bytes but not its ".md5" file, so copying onto an
// existing key keeps the ETag of the bytes it replaced (HEAD, GET and
// listings then show a wrong ETag). This removes the destination's ".md5"
// first; s3rver recomputes it from the copied bytes.  A copy of a
// multipart object gets the MD5 of its bytes, as in S3.
function fixCopyReplaceEtag(requireS3rver) {
  const fsp = require('node:fs/promises')
  const FilesystemStore = requireS3rver('lib/stores/filesystem')
  const copyObject = FilesystemStore.prototype.copyObject
  FilesystemStore.prototype.copyObject = async function copyObjectFreshEtag(
    srcBucket,
    srcKey,
    destBucket,
    destKey,
    replacementMetadata
  ) {
    const srcMd5 = this.getResourcePath(srcBucket, srcKey, 'object.md5')
    const destMd5 = this.getResourcePath(destBucket, destKey, 'object.md5')
    if (replacementMetadata && srcMd5 !== destMd5) await fsp.rm(destMd5, { force: true })
    const result = await copyObject.call(this, srcBucket, srcKey, destBucket, destKey, replacementMetadata)
    // A copy is one object, not a multipart upload: S3 gives it the MD5 of
    // its bytes, not the source's composite ETag (compositeMultipartEtag).
    const md5 = await fsp.readFile(destMd5, 'utf8').catch(() => '')
    if (!md5.includes('-')) return result
    await fsp.rm(destMd5, { force: true })
    return this.getMetadata(destBucket, destKey)
  }
}

// s3rver's FilesystemStore.getObject reads a range's last byte as
// `options.end || Infinity`, so a range ending at byte 0 ("bytes=0-0", one
// byte) means the whole object: GET answers 206 with every byte, and
// UploadPartCopy with x-amz-copy-source-range: bytes=0-0 copies the whole
// source. This is the same function with `??` in place of `||`. And a range
// of an empty object (no byte 0) is not satisfiable: 416 InvalidRange, as
// S3 answers; s3rver sent "206, Content-Range: bytes 0-0/0, Content-Length:
// 1" and no byte, so the client waited for one until its timeout.
function fixRangeEndingAtZero(requireS3rver) {
  const { createReadStream } = require('node:fs')
  const FilesystemStore = requireS3rver('lib/stores/filesystem')
  const S3Object = requireS3rver('lib/models/object')

  FilesystemStore.prototype.getObject = async function getObject(bucket, key, options) {
    try {
      const metadata = await this.getMetadata(bucket, key)
      const size = Number(metadata['content-length'])
      const ranged = options && (options.start !== undefined || options.end !== undefined)
      const lastByte = ranged && size === 0 ? -1 : Math.max(0, size - 1)
      const range = {
        start: options?.start || 0,
        end: Math.min(options?.end ?? Infinity, lastByte),
      }

      if (range.start < 0 || range.end < range.start) {
        // the range is not satisfiable
        const object = new S3Object(bucket, key, null, metadata)
        if (ranged) object.range = range
        return object
      }

      const content = await new Promise((resolve, reject) => {
        const stream = createReadStream(this.getResourcePath(bucket, key, 'object'), range)
          .on('error', reject)
          .on('open', () => resolve(stream))
      })
      const object = new S3Object(bucket, key, content, metadata)
      if (ranged) object.range = range
      return object
    } catch (err) {
      if (err.code === 'ENOENT') return null
      throw err
    }
  }
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
  addAbortMultipartUpload(requireS3rver)
  addListMultipartUploads(requireS3rver)
  verifyContentMd5(requireS3rver)
  fixCopySource(requireS3rver)
  compositeMultipartEtag(requireS3rver) // under checkMultipartUploads' checks
  checkMultipartUploads(requireS3rver)
  fixCopyReplaceEtag(requireS3rver)
  fixRangeEndingAtZero(requireS3rver)
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

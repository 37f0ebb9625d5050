"""Every bound the code relies on, in one place, with the reasons they relate.

Units and qualifiers go last in names. Values that an operator may tune live in
the service configuration instead; these are the fixed ones.
"""

# --- ring ------------------------------------------------------------------
RING_PART_POWER_MIN = 1
RING_PART_POWER_MAX = 24  # 2**24 partitions x replicas x 4 bytes stays under 256 MiB in the builder
RING_REPLICAS_MIN = 1
RING_REPLICAS_MAX = 16
RING_DEVICES_MAX = 65_534  # device ids are stored as uint16 in ring files; 0xFFFF marks "none"
RING_DEVICE_NAME_BYTES_MAX = 64
RING_META_BYTES_MAX = 1024
RING_MIN_PART_HOURS_MAX = 24 * 365
RING_REBALANCE_ROUNDS_MAX = 8  # gather/place rounds before rebalance settles for what it has
RING_BALANCE_SLACK_PARTS = 1  # a device this close to its target is not worth moving a partition for
RING_HANDOFFS_DEFAULT = 3  # handoffs `dolmen ring nodes` shows unless asked for more
RING_FILE_BYTES_MAX = 512 * 2**20
RING_RELOAD_CHECK_INTERVAL_S = 15.0

# --- names (Swift's defaults, which S3 and Swift clients expect) -----------
ACCOUNT_NAME_BYTES_MAX = 256
CONTAINER_NAME_BYTES_MAX = 256
OBJECT_NAME_BYTES_MAX = 1024
LMDB_KEY_BYTES_MAX = 511  # LMDB's default; longer names get a hashed key
LISTING_PAGE_ENTRIES_MAX = 10_000
LISTING_DELIMITER_BYTES_MAX = 256  # S3 allows multi-character delimiters; Swift one character

# --- metadata --------------------------------------------------------------
METADATA_NAME_BYTES_MAX = 128
METADATA_VALUE_BYTES_MAX = 256
METADATA_COUNT_MAX = 90
METADATA_TOTAL_BYTES_MAX = 4096
HEADER_BYTES_MAX = 8192

# --- storage --------------------------------------------------------------
CHECKSUM_BLOCK_BYTES = 64 * 2**10
REGISTER_VALUE_BYTES_MAX = 64 * 2**10
REGISTER_KEY_BYTES_MAX = 256  # register keys are LMDB keys: well under LMDB_KEY_BYTES_MAX
REGISTER_PROPOSER_BYTES_MAX = 64  # a proposer id is stored with each ballot (one length byte)
EXTENT_SIZE_BYTES = 4 * 2**20
NBD_BLOCK_SIZE_BYTES = 4096

# --- internal requests -----------------------------------------------------
REQUEST_SIGNATURE_LIFETIME_S_MAX = 300.0
REQUEST_SIGNATURE_CLOCK_SKEW_S_MAX = (
    60.0  # clocks of two hosts may differ this much and still agree on expiry
)
REQUEST_ID_BYTES_MAX = 128

# --- storage node HTTP API --------------------------------------------------
OBJECT_BODY_BYTES_MAX = 5 * 2**30  # Swift's max_file_size: larger objects are segmented above the node
FRAME_DATA_BYTES_MAX = 2**20  # one DATA frame of a PUT body; the node holds at most one in flight
FOOTER_BYTES_MAX = 16 * 2**10  # footer frame: HMAC + JSON with ETag, checksums and extra metadata
ETAG_BYTES_MAX = 256  # opaque to the node; MD5 hex (32) or an S3 multipart ETag fit easily
DEVICE_NAME_BYTES_MAX = 64  # same bound as ring device names
PARTITION_MAX = 2**RING_PART_POWER_MAX - 1  # partitions are ring hash prefixes
BYTE_RANGES_MAX = 50  # more ranges than this in one GET: the Range header is ignored (whole body), as Swift
REQUEST_LINE_BYTES_MAX = 8192  # method + target; names are at most ~1.6 KiB even percent-encoded x3
REQUEST_HEADERS_COUNT_MAX = 128
HTTP_CHUNK_BYTES = 256 * 2**10  # read and write size for streamed bodies
BODY_WRITE_BATCH_BYTES = 2**20  # PUT body bytes a node hands to a disk thread at once (one frame)

# --- identity --------------------------------------------------------------
NAME_CHARS_MAX = 255  # Keystone's limit for user, project, domain, role and service names
ID_BYTES_MAX = 64  # generated ids are 32 hex digits; `default` and operator-chosen ids stay short
PASSWORD_CHARS_MAX = 4096  # longer passwords are refused before hashing (argon2 would hash them all)
DESCRIPTION_CHARS_MAX = 1024
URL_CHARS_MAX = 2048  # catalog endpoint URLs
TOKEN_ROLES_MAX = 64  # roles carried by one token (effective roles on one project)
TOKEN_CHARS_MAX = 2048  # a longer token is refused before any decryption
# Opened tokens a validator remembers (per key set): about 2.5 MiB at most, and a client's
# repeated token then costs no decryption. Expiry and revocation are still checked each time.
OPENED_TOKENS_MAX = 8192
IDENTITY_BODY_BYTES_MAX = 64 * 2**10  # request bodies of the identity API
FERNET_KEYS_MAX = 16  # active keys (staged, primary, secondaries) in the repository
REVOCATION_EVENTS_MAX = 10_000  # live events; older ones expire with the longest token lifetime
ROLES_MAX = 1_000  # roles a validator keeps in memory to name a token's role ids
POLICY_RULE_CHARS_MAX = 4096
POLICY_RULES_CACHED_MAX = 1024  # parsed ad-hoc rule expressions kept per Policy
RATE_LIMIT_KEYS_MAX = 100_000  # users and addresses the failed-login limiter remembers (oldest forgotten)
IDENTITY_LIST_ENTRIES_MAX = 10_000  # entities one identity listing returns; more is refused, not truncated

# --- cluster client ----------------------------------------------------------
REGISTER_OPERATION_ID_BYTES = 8  # random per cas() call: tells a retried change that it already landed
REGISTER_OPERATIONS_REMEMBERED = 64  # newest operation ids kept in a register value
REGISTER_ENVELOPE_BYTES_MAX = 3 + REGISTER_OPERATION_ID_BYTES * REGISTER_OPERATIONS_REMEMBERED
REGISTER_PAYLOAD_BYTES_MAX = 64 * 2**10 - REGISTER_ENVELOPE_BYTES_MAX  # what cas() callers may store
RECORD_BYTES_MAX = 60 * 2**10  # a record's JSON (identity, bucket registry, volumes) in one register
RECORD_LIST_ENTRIES_MAX = 10_000  # Records.list returns at most this many records

# --- containers and accounts ------------------------------------------------
STORAGE_POLICY_INDEX_MAX = 2**16 - 1  # object-N.ring: policy indexes are small numbers
UPDATE_BATCH_ENTRIES_MAX = 256  # container updates one UPDATE request carries to a container replica
UPDATE_BATCH_BYTES_MAX = 4 * 2**20  # and its body's bytes (256 entries of the longest names, JSON-escaped)
LOOKUP_NAMES_MAX = 1_000  # names one LOOKUP asks a container or account replica for (a listing merge)
LOOKUP_BYTES_MAX = 8 * 2**20  # and its body's bytes (1,000 of the longest names, JSON-escaped)
CONTAINER_UPDATES_PER_PASS_MAX = 1024  # pending container updates one updater pass reads per device
STATS_REPORTS_PER_PASS_MAX = 1024  # container stats reports one reporter pass reads per device
METADATA_REMOVALS_KEPT_MAX = 90  # removed metadata items remembered (so an older set cannot revive them)

# --- large objects (Swift SLO/DLO, S3 multipart: proxy/LARGE_OBJECTS.md) -------
LARGE_OBJECT_NESTING_MAX = 10  # Swift's max_slo_recursion_depth: manifests within manifests
LARGE_OBJECT_SEGMENTS_MAX = 1000  # Swift's max_manifest_segments for ?multipart-manifest=put
# A stored manifest is read whole into memory; 10,000 S3 parts with names of ~1.6 KiB fit.
LARGE_OBJECT_MANIFEST_BYTES_MAX = 16 * 2**20
SLO_MANIFEST_REQUEST_BYTES_MAX = 8 * 2**20  # Swift's max_manifest_size: the body of ?multipart-manifest=put
SLO_SEGMENT_HEADS_CONCURRENCY_MAX = 8  # segment HEADs of one manifest PUT in flight at once
DLO_SEGMENTS_MAX = 10_000  # a DLO's listing is read in one page, Swift's container_listing_limit
SYMLINK_HOPS_MAX = 2  # Swift's symloop_max: symlinks followed by one request
# --- bulk (Swift's bulk middleware defaults) --------------------------------
BULK_DELETES_MAX = 10_000  # max_deletes_per_request
BULK_FAILED_DELETES_MAX = 1_000  # max_failed_deletes
BULK_DELETES_CONCURRENCY_MAX = 8  # deletes of one request in flight at once
BULK_EXTRACT_CONTAINERS_MAX = 10_000  # max_containers_per_extraction
BULK_FAILED_EXTRACTIONS_MAX = 1_000  # max_failed_extractions

# --- S3 -------------------------------------------------------------------
S3_CLOCK_SKEW_S_MAX = 900.0  # S3's 15 minutes between a signed request's time and ours
S3_PRESIGNED_EXPIRES_S_MAX = 7 * 86_400  # S3's longest presigned URL lifetime
S3_SIGNED_HEADERS_COUNT_MAX = 64  # names in SignedHeaders; well under REQUEST_HEADERS_COUNT_MAX
S3_PART_READS_CONCURRENCY = 16  # parts of one object read at once (GetObjectAttributes' part checksums)
S3_CHUNK_BYTES_MAX = 16 * 2**20  # one aws-chunked chunk; SDKs send 8 KiB to 1 MiB
S3_CHUNK_LINE_BYTES_MAX = 4096  # a chunk header or trailer line: size, signature, checksum
S3_TRAILERS_COUNT_MAX = 8  # trailing headers of an aws-chunked body
S3_REQUEST_XML_BYTES_MAX = 2 * 2**20  # DeleteObjects with 1,000 keys of 1,024 bytes fits
S3_BUCKET_CONFIG_XML_BYTES_MAX = 16 * 2**10  # CreateBucketConfiguration
S3_DELETE_OBJECTS_KEYS_MAX = 1000  # S3's limit per DeleteObjects request
S3_DELETE_OBJECTS_CONCURRENCY_MAX = 16  # deletes of one DeleteObjects request in flight at once
S3_LIST_KEYS_MAX = 1000  # S3's max-keys ceiling per listing page
S3_LIST_BUCKETS_MAX = 10_000  # S3's max-buckets ceiling per ListBuckets page
S3_COPY_SOURCE_BYTES_MAX = 5 * 2**30  # S3's largest single CopyObject source
S3_USER_METADATA_BYTES_MAX = 2048  # S3: names and values of x-amz-meta-* together
S3_PARTS_MAX = 10_000  # S3's part numbers 1..10,000 of one multipart upload
S3_PART_BYTES_MIN = 5 * 2**20  # S3: every part but the last is at least 5 MiB (EntityTooSmall)
S3_PART_BYTES_MAX = 5 * 2**30  # S3's largest part
S3_LIST_PARTS_MAX = 1000  # S3's max-parts ceiling of ListParts and GetObjectAttributes
S3_LIST_UPLOADS_MAX = 1000  # S3's max-uploads ceiling of ListMultipartUploads
S3_COMPLETE_XML_BYTES_MAX = 2 * 2**20  # CompleteMultipartUpload of 10,000 parts with checksums fits
S3_PART_HEADS_CONCURRENCY_MAX = 16  # part HEADs in flight for one request (checksums of parts)
S3_UPLOAD_RECORD_BYTES_MAX = 64 * 2**10  # an upload record: metadata (2 KiB of user items) and names
S3_POST_FIELDS_BYTES_MAX = 20 * 2**10  # S3: the form fields before the file of a POST Object
S3_POST_FIELDS_COUNT_MAX = 64  # form fields before the file
S3_POST_CONDITIONS_MAX = 64  # conditions of one POST policy
S3_UPLOADS_LISTING_ROUNDS_MAX = 16  # cluster listing pages one ListMultipartUploads reads at most

# --- keys ------------------------------------------------------------------
CLUSTER_SECRET_BYTES_MIN = 32
PLACEMENT_KEY_BYTES = 32

assert EXTENT_SIZE_BYTES % NBD_BLOCK_SIZE_BYTES == 0  # no block straddles two extents
assert EXTENT_SIZE_BYTES % CHECKSUM_BLOCK_BYTES == 0  # extent writes align with checksum blocks
assert OBJECT_NAME_BYTES_MAX > LMDB_KEY_BYTES_MAX  # so long names need the hashed-key path
assert RING_DEVICES_MAX < 0xFFFF
assert TOKEN_ROLES_MAX < 256  # a token stores its role count in one byte
assert ID_BYTES_MAX < 256  # a token stores a textual id's length in one byte
assert NAME_CHARS_MAX * 4 < 2**16  # a token stores a name's UTF-8 length in two bytes
assert REGISTER_PAYLOAD_BYTES_MAX + REGISTER_ENVELOPE_BYTES_MAX == REGISTER_VALUE_BYTES_MAX
assert RECORD_BYTES_MAX + 1024 <= REGISTER_PAYLOAD_BYTES_MAX  # a record's JSON plus its key and version fit
assert LARGE_OBJECT_MANIFEST_BYTES_MAX > 10_000 * (OBJECT_NAME_BYTES_MAX + CONTAINER_NAME_BYTES_MAX + 200)
assert S3_SIGNED_HEADERS_COUNT_MAX <= REQUEST_HEADERS_COUNT_MAX
assert S3_LIST_KEYS_MAX < LISTING_PAGE_ENTRIES_MAX  # an S3 page and its dropped marker: one cluster page
assert S3_REQUEST_XML_BYTES_MAX > S3_DELETE_OBJECTS_KEYS_MAX * (OBJECT_NAME_BYTES_MAX + 64)
assert S3_COMPLETE_XML_BYTES_MAX > S3_PARTS_MAX * 200  # <Part> with number, quoted ETag and a SHA-256
assert S3_PARTS_MAX * S3_PART_BYTES_MAX >= 5 * 2**40  # objects up to 5 TiB
assert REGISTER_KEY_BYTES_MAX <= LMDB_KEY_BYTES_MAX
assert REGISTER_PROPOSER_BYTES_MAX <= 255
assert PLACEMENT_KEY_BYTES <= 64  # BLAKE2b takes keys up to 64 bytes
assert (
    FOOTER_BYTES_MAX > 32 + ETAG_BYTES_MAX + 2 * METADATA_TOTAL_BYTES_MAX
)  # a full footer fits, JSON-escaped
# A path of the longest legal names, every byte percent-encoded, fits in the request line.
assert (
    REQUEST_LINE_BYTES_MAX
    > 3 * (ACCOUNT_NAME_BYTES_MAX + CONTAINER_NAME_BYTES_MAX + OBJECT_NAME_BYTES_MAX) + 200
)
assert LOOKUP_BYTES_MAX > LOOKUP_NAMES_MAX * (6 * OBJECT_NAME_BYTES_MAX + 3)  # "\u001f" is 6 bytes

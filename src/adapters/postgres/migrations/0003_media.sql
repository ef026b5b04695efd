-- Media metadata and folders (the bytes are files: media/.blobs/<2 hex>/<32 hex>, never
-- renamed or rewritten once a row names them, so moving a folder changes rows only).
-- A file exists only with its row; its folder and every ancestor have rows too.

CREATE TABLE media_folders (
    id text COLLATE "C" PRIMARY KEY,
    parent text COLLATE "C" NOT NULL         -- '' for a top-level folder
);
CREATE INDEX media_folders_parent ON media_folders (parent, id);

CREATE TABLE media_files (
    id text COLLATE "C" PRIMARY KEY,
    folder text COLLATE "C" NOT NULL,        -- '' for the root
    meta bytea NOT NULL,                     -- the metadata as msgspec JSON, in its order
    blob text COLLATE "C" NOT NULL UNIQUE    -- the name of its bytes under media/.blobs
);
CREATE INDEX media_files_folder ON media_files (folder, id);

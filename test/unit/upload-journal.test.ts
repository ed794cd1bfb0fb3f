import { appendFileSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openUploadJournal, uploadJournalDir } from "../../client/upload-journal.ts";

const dir = mkdtempSync(join(tmpdir(), "ferry-journal-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let ids = 0;
const newId = () => `upload-${++ids}`;
const chunk = (offset: number, size: number) => ({ offset, size, sha256: "d".repeat(64) });

describe("openUploadJournal", () => {
  it("goes on with an interrupted upload of the same file, and starts over, saying why, when it changed", async () => {
    const journals = join(dir, "journals");
    const path = join(dir, "data.bin");
    writeFileSync(path, "x".repeat(100));
    const id = { path, cloud: "aws", chunkSize: 40, recordBoundaries: false };

    const first = await openUploadJournal(journals, id, newId);
    expect(first.note).toBeUndefined();
    first.journal.record(chunk(0, 40));
    first.journal.record(chunk(40, 40));

    const again = await openUploadJournal(journals, id, newId);
    expect(again.journal.entry.fileId).toBe(first.journal.entry.fileId);
    expect(again.journal.entry.chunks).toEqual([chunk(0, 40), chunk(40, 40)]);
    expect(again.note).toBe(
      `resuming the upload of ${path} as file ${first.journal.entry.fileId}: 2 chunks (80 of 100 bytes) are staged already`,
    );
    // Another cloud is another upload.
    expect((await openUploadJournal(journals, { ...id, cloud: "gcp" }, newId)).journal.entry.chunks).toEqual([]);

    const cut = await openUploadJournal(journals, { ...id, chunkSize: 50 }, newId);
    expect(cut.note).toMatch(/it is cut differently .* uploading it from the start as a new file/);
    expect(cut.abandoned).toBe(first.journal.entry.fileId);

    cut.journal.record(chunk(0, 50));
    utimesSync(path, new Date(), new Date(Date.now() + 5000));
    const touched = await openUploadJournal(journals, { ...id, chunkSize: 50 }, newId);
    expect(touched.note).toContain(`${path}: it was modified since its interrupted upload`);
    expect(touched.journal.entry.fileId).not.toBe(cut.journal.entry.fileId);

    touched.journal.remove();
    expect(readdirSync(journals).length).toBe(1); // gcp's
  });

  it("ignores a journal that is not one (torn or foreign) and starts afresh", async () => {
    const journals = join(dir, "torn");
    const path = join(dir, "torn.bin");
    writeFileSync(path, "y".repeat(10));
    const id = { path, cloud: "aws", chunkSize: 4, recordBoundaries: false };
    const { journal } = await openUploadJournal(journals, id, newId);
    writeFileSync(journal.file, "{ half");
    const next = await openUploadJournal(journals, id, newId);
    expect(next.note).toBeUndefined();
    expect(next.journal.entry.chunks).toEqual([]);
  });

  it("keeps the chunk lines up to one torn by a kill mid-append", async () => {
    const journals = join(dir, "torn-line");
    const path = join(dir, "lines.bin");
    writeFileSync(path, "z".repeat(12));
    const id = { path, cloud: "aws", chunkSize: 4, recordBoundaries: false };
    const { journal } = await openUploadJournal(journals, id, newId);
    journal.record(chunk(0, 4));
    journal.record(chunk(4, 4));
    appendFileSync(journal.file, '{"offset":8,"si');
    const again = await openUploadJournal(journals, id, newId);
    expect(again.journal.entry.fileId).toBe(journal.entry.fileId);
    expect(again.journal.entry.chunks).toEqual([chunk(0, 4), chunk(4, 4)]);
    // Opened again, the journal is rewritten without the torn line, so the next chunk appended counts.
    again.journal.record(chunk(8, 4));
    expect((await openUploadJournal(journals, id, newId)).journal.entry.chunks).toEqual([
      chunk(0, 4),
      chunk(4, 4),
      chunk(8, 4),
    ]);
  });
});

describe("uploadJournalDir", () => {
  it("is under XDG_STATE_HOME, else ~/.local/state", () => {
    expect(uploadJournalDir({ XDG_STATE_HOME: "/s" })).toBe("/s/ferry/uploads");
    expect(uploadJournalDir({})).toMatch(/\/\.local\/state\/ferry\/uploads$/);
  });
});

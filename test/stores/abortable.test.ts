import { getEventListeners } from "node:events";
import { describe, expect, it } from "vitest";
import { abortable } from "../../shared/stores/abortable.ts";

describe("abortable", () => {
  it("passes the result and the failure of what it started", async () => {
    const controller = new AbortController();
    await expect(abortable(async () => 42, controller.signal)).resolves.toBe(42);
    const boom = new Error("boom");
    await expect(abortable(() => Promise.reject(boom), controller.signal)).rejects.toBe(boom);
    await expect(abortable(async () => "no signal", undefined)).resolves.toBe("no signal");
  });

  it("rejects with the abort reason at once, while what it started never settles", async () => {
    const controller = new AbortController();
    const reason = new Error("gave up");
    const waiting = abortable(() => new Promise<never>(() => {}), controller.signal);
    setTimeout(() => controller.abort(reason), 10);
    await expect(waiting).rejects.toBe(reason);
  });

  it("does not start when the signal has already aborted", async () => {
    let started = false;
    const reason = new Error("too late");
    const start = async () => {
      started = true;
    };
    await expect(abortable(start, AbortSignal.abort(reason))).rejects.toBe(reason);
    expect(started).toBe(false);
  });

  it("turns a start that throws into a rejection", async () => {
    const boom = new Error("sync boom");
    await expect(
      abortable(() => {
        throw boom;
      }, new AbortController().signal),
    ).rejects.toBe(boom);
  });

  it("stops listening once what it started settles, so one signal can serve many calls", async () => {
    const controller = new AbortController();
    for (let i = 0; i < 20; i++) await abortable(async () => i, controller.signal);
    await abortable(() => Promise.reject(new Error("x")), controller.signal).catch(() => {});
    expect(getEventListeners(controller.signal, "abort")).toHaveLength(0);
  });
});

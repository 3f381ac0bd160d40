// Test helpers: screenshot an HTML file with headless Chromium and count pixels of a colour
// in the PNG, to check that charts are drawn, not just present in the markup.

const CANDIDATES = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];

/** The Chromium binary, or undefined when none is installed. */
export async function findChromium(): Promise<string | undefined> {
  for (const path of CANDIDATES) {
    try {
      if ((await Deno.stat(path)).isFile) return path;
    } catch {
      // try the next one
    }
  }
  return undefined;
}

/** Screenshots `htmlPath` at the given window size into a PNG file and returns its bytes. */
export async function screenshot(
  chromium: string,
  htmlPath: string,
  pngPath: string,
  size: { width: number; height: number },
): Promise<Uint8Array> {
  const profile = await Deno.makeTempDir({ prefix: "tokentrace-chromium-" });
  try {
    const { code, stderr } = await new Deno.Command(chromium, {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        `--user-data-dir=${profile}`,
        "--hide-scrollbars",
        `--window-size=${size.width},${size.height}`,
        `--screenshot=${pngPath}`,
        `file://${htmlPath}`,
      ],
      stdout: "null",
      stderr: "piped",
    }).output();
    if (code !== 0) {
      throw new Error(
        `Cannot screenshot ${htmlPath}: chromium exited with ${code}: ${
          new TextDecoder().decode(stderr)
        }`,
      );
    }
    return await Deno.readFile(pngPath);
  } finally {
    await Deno.remove(profile, { recursive: true });
  }
}

/** A decoded 8-bit RGB or RGBA PNG. */
export interface Image {
  width: number;
  height: number;
  channels: number;
  pixels: Uint8Array;
}

async function inflate(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new DecompressionStream("deflate"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Decodes a non-interlaced 8-bit RGB/RGBA PNG (what Chromium writes). */
export async function decodePng(png: Uint8Array): Promise<Image> {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const signature = [137, 80, 78, 71, 13, 10, 26, 10];
  if (!signature.every((b, i) => png[i] === b)) throw new Error("Cannot decode PNG: bad signature");
  let offset = 8;
  let width = 0, height = 0, channels = 0;
  const idat: Uint8Array[] = [];
  while (offset < png.length) {
    const length = view.getUint32(offset);
    const type = new TextDecoder().decode(png.subarray(offset + 4, offset + 8));
    const data = png.subarray(offset + 8, offset + 8 + length);
    if (type === "IHDR") {
      width = view.getUint32(offset + 8);
      height = view.getUint32(offset + 12);
      const depth = data[8], colorType = data[9], interlace = data[12];
      if (depth !== 8 || interlace !== 0 || (colorType !== 2 && colorType !== 6)) {
        throw new Error(
          `Cannot decode PNG: unsupported depth ${depth}, color type ${colorType}, interlace ${interlace}`,
        );
      }
      channels = colorType === 6 ? 4 : 3;
    } else if (type === "IDAT") idat.push(data);
    offset += 12 + length;
  }
  const raw = await inflate(
    new Uint8Array(await new Blob(idat as Uint8Array<ArrayBuffer>[]).arrayBuffer()),
  );
  const stride = width * channels;
  const pixels = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)]!;
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    const out = pixels.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? pixels.subarray((y - 1) * stride, y * stride) : new Uint8Array(stride);
    for (let x = 0; x < stride; x++) {
      const a = x >= channels ? out[x - channels]! : 0;
      const b = prev[x]!;
      const c = x >= channels ? prev[x - channels]! : 0;
      let predictor = 0;
      if (filter === 1) predictor = a;
      else if (filter === 2) predictor = b;
      else if (filter === 3) predictor = (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      }
      out[x] = (line[x]! + predictor) & 0xff;
    }
  }
  return { width, height, channels, pixels };
}

/** Counts pixels within `tolerance` (per channel) of the colour `#rrggbb`. */
export function countColor(image: Image, hex: string, tolerance = 12): number {
  const target = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
  let n = 0;
  for (let i = 0; i < image.pixels.length; i += image.channels) {
    if (target.every((v, k) => Math.abs(image.pixels[i + k]! - v) <= tolerance)) n++;
  }
  return n;
}

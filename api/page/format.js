// Numbers in words a person reads: sizes in binary units, durations, percentages.

export function bytes(n) {
  // Binary units, as the tiers are set (a free tier's 100 MiB shows as 100 MiB, not 105 MB).
  if (n == null) return "?";
  const units = ["bytes", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (Math.round(n) >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
  if (i === 0) return n + " bytes";
  const shown = n < 9.95 ? n.toFixed(1).replace(/\.0$/, "") : String(Math.round(n));
  return shown + " " + units[i];
}
export function duration(seconds) {
  if (!isFinite(seconds)) return "";
  if (seconds < 60) return Math.max(1, Math.round(seconds)) + " s";
  const m = Math.floor(seconds / 60);
  return m < 60 ? m + " min " + Math.round(seconds % 60) + " s"
    : Math.floor(m / 60) + " h " + (m % 60) + " min";
}

export function percent(rate) {
  // 0.25 -> "25%", 0.125 -> "12.5%": no ".0" on whole numbers.
  return (100 * rate).toFixed(1).replace(/\.0$/, "") + "%";
}

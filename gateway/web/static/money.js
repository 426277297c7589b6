// Money is an integer number of minor units (kopecks) everywhere in the API,
// up to 10^18: beyond what a JavaScript number holds exactly. The page keeps
// it as BigInt from the JSON text to the screen and back.

const moneyFields = new Set(["amount", "balance"]);

// parseJSON parses an API response, reading the money fields as BigInt
// from their source text (JSON.parse source text access); where the browser
// lacks it, from the number, exact up to 2^53.
export function parseJSON(text) {
  return JSON.parse(text, function (key, value, context) {
    if (moneyFields.has(key) && typeof value === "number") {
      return typeof context?.source === "string" ? BigInt(context.source) : BigInt(Math.trunc(value));
    }
    return value;
  });
}

// parseRubles reads what a shopper typed ("1 500", "99.9", "99,90") as
// kopecks; it throws an Error whose message is meant for the shopper.
export function parseRubles(text) {
  const s = text.replace(/[\s\u00a0\u202f]/g, "").replace(",", ".");
  if (s === "") throw new Error("Enter an amount.");
  const m = /^(\d{1,17})(?:\.(\d{1,2}))?$/.exec(s);
  if (!m) throw new Error("Enter an amount in rubles, such as 500 or 99.90.");
  const kopecks = BigInt(m[1]) * 100n + BigInt((m[2] ?? "").padEnd(2, "0"));
  if (kopecks <= 0n) throw new Error("The amount must be more than zero.");
  return kopecks;
}

// formatRubles shows kopecks (a BigInt) as rubles: "1 500.00 ₽".
export function formatRubles(kopecks, currency = "RUB") {
  const negative = kopecks < 0n;
  const v = negative ? -kopecks : kopecks;
  const whole = (v / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, "\u202f");
  const cents = (v % 100n).toString().padStart(2, "0");
  const sign = currency === "RUB" ? "₽" : currency;
  return `${negative ? "−" : ""}${whole}.${cents}\u00a0${sign}`;
}

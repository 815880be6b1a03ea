// How many SMS parts a text takes: GSM-7 when every character is in the GSM 03.38 alphabet (160
// characters in one part, 153 per part when split; the extension characters count twice), UCS-2
// otherwise (70, then 67 per part; characters outside the BMP count twice, as UTF-16 does).

const GSM_BASIC =
  '@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !"#¤%&\'()*+,-./0123456789:;<=>?' +
  '¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà';
const GSM_EXTENDED = '^{}\\[~]|€\f';
const basic = new Set(GSM_BASIC);
const extended = new Set(GSM_EXTENDED);

/** `{encoding: 'GSM-7'|'UCS-2', characters, units, parts, perPart, remaining}` for `text`. */
export function countSms(text) {
  const chars = Array.from(text);
  let gsm = true;
  let septets = 0;
  for (const c of chars) {
    if (basic.has(c)) septets += 1;
    else if (extended.has(c)) septets += 2;
    else { gsm = false; break; }
  }
  const units = gsm ? septets : text.length; // UTF-16 code units
  const [single, multi] = gsm ? [160, 153] : [70, 67];
  const parts = units === 0 ? 0 : units <= single ? 1 : Math.ceil(units / multi);
  const perPart = parts > 1 ? multi : single;
  const remaining = parts === 0 ? single : parts * perPart - units;
  return { encoding: gsm ? 'GSM-7' : 'UCS-2', characters: chars.length, units, parts, perPart, remaining };
}

/**
 * Checks a JSON value against a shape written as in fixtures/original-api.json: where it differs,
 * one line per difference (empty when it conforms). The end-to-end test has its own copy: a
 * package's tests and the workspace's do not import each other.
 */
export type Shape = string | Shape[] | { [key: string]: Shape };

export function shapeProblems(value: unknown, shape: Shape, at = '$'): string[] {
  if (typeof shape === 'string') {
    if (shape === 'object') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`${at}: an object (map), not ${JSON.stringify(value)}`];
      return Object.entries(value).filter(([, v]) => typeof v !== 'string').map(([k]) => `${at}.${k}: a string value`);
    }
    return typeof value === shape ? [] : [`${at}: a ${shape}, not ${JSON.stringify(value)}`];
  }
  if (Array.isArray(shape)) {
    if (!Array.isArray(value)) return [`${at}: an array`];
    return value.flatMap((v, i) => shapeProblems(v, shape[0]!, `${at}[${i}]`));
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return [`${at}: an object`];
  const keys = Object.keys(value).sort();
  const want = Object.keys(shape).sort();
  const problems: string[] = [];
  if (keys.join(',') !== want.join(',')) problems.push(`${at}: keys ${keys.join(',')}, not ${want.join(',')}`);
  for (const k of want) if (k in value) problems.push(...shapeProblems((value as Record<string, unknown>)[k], shape[k]!, `${at}.${k}`));
  return problems;
}

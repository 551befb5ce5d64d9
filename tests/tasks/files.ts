/** The files of a results folder, as a user lists them. */

/** Every file under `dir`, as paths relative to it (`model/model.json`), sorted. */
export function filesUnder(dir: string, prefix = ""): string[] {
  return [...Deno.readDirSync(dir)].flatMap((e) =>
    e.isDirectory ? filesUnder(`${dir}/${e.name}`, `${prefix}${e.name}/`) : [`${prefix}${e.name}`]
  ).sort();
}

// Hash the password read from standard input with node-argon2, as a Node.js app stores it.
// Usage: node hash.cjs TYPE MEMORY_KIB TIME PARALLELISM  (TYPE: argon2id, argon2i or argon2d)
const argon2 = require("argon2");

const [type, memoryCost, timeCost, parallelism] = process.argv.slice(2);
let password = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (chunk) => { password += chunk; });
process.stdin.on("end", async () => {
  const hash = await argon2.hash(password, {
    type: argon2[type], memoryCost: Number(memoryCost), timeCost: Number(timeCost),
    parallelism: Number(parallelism),
  });
  process.stdout.write(hash);
});

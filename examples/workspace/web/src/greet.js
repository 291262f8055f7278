export function greet(name) {
  const unused = "left over";
  return `Hello, ${name}!`;
}

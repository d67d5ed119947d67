export { main } from './main.js'
export { EXIT } from './exit-codes.js'

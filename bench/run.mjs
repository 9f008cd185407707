// Placeholder: the real benchmark replaces this file.
console.log('bench placeholder');

# Perl strings with the UTF-8 flag (text: decoded input, wide characters,
# Latin-1 text upgraded with utf8::upgrade) go to the server as their UTF-8
# encoding - as values, keys, hash fields and in MSET/HSET/RPUSH lists beside
# byte strings - and come back as those bytes, unflagged (utf8::decode gives
# the text back); STRLEN counts the UTF-8 bytes. A byte string without the
# flag goes out byte for byte, so "caf\xe9" as bytes and as text are two
# different values and two different keys. With the prefix option the server
# key is the bytes of the prefix followed by the bytes of the key, whichever
# of them is text: a byte key is never encoded a second time, and a byte
# prefix is not upgraded by a text key.
use Test2::V0;
use Test2::API qw(context);
use IO::Async::Loop;
use Future::IO::Impl::IOAsync;
use Future::IO::Redis;
use Encode qw(encode_utf8 decode_utf8);
use lib 't/lib';
use FIORTest;

my $loop  = IO::Async::Loop->new;
my $srv   = FIORTest::server('plain');
my $redis = Future::IO::Redis->new(%$srv);
$redis->connect->get;
my $base = FIORTest::unique_key('utf8');
my @cleanup;

sub upgraded { my $s = shift; utf8::upgrade($s); return $s }

# A reply holding text: the UTF-8 encoding of it, which decodes back.
sub utf8_of {
    my ( $got, $text, $name ) = @_;
    my $ctx = context();
    FIORTest::bytes_are( $got, encode_utf8($text), $name );
    my $copy = $got;
    ok( defined $copy && utf8::decode($copy), "$name: decodes as UTF-8" );
    is( $copy, $text, "$name: to the text sent" );
    $ctx->release;
    return;
}

my $cafe_text  = decode_utf8("caf\xc3\xa9");    # "caf\x{e9}", flagged
my $cafe_up    = upgraded("caf\xe9");           # the same, by utf8::upgrade
my $cafe_bytes = "caf\xe9";                     # one byte \xe9, no flag
my @text       = (
    'decoded caf\x{e9}'   => $cafe_text,
    'upgraded Latin-1'    => $cafe_up,
    'upgraded \xe9\xff'   => upgraded("\xe9\xff"),
    'upgraded ASCII'      => upgraded('plain'),
    '\x{263a}'            => "\x{263a}",
    '\x{1F600}'           => "\x{1F600}",
    'mixed'               => "na\x{ef}ve \x{263a} \x{1F600}!",
    'NUL and wide'        => "\x00\x{263a}\x00",
    'CRLF and wide'       => "\r\n\$3\r\n\x{263a}\r\n",
    'U+FFFD and U+10FFFF' => "\x{fffd}\x{10ffff}",
);
my ( @names, @texts );
while ( my ( $n, $t ) = splice @text, 0, 2 ) {
    push @names, $n;
    push @texts, $t;
}
is( [ grep { !utf8::is_utf8( $texts[$_] ) } 0 .. $#texts ], [], 'the test texts are flagged' );
ok( !utf8::is_utf8($cafe_bytes), 'and the Latin-1 byte string is not' );
is( $cafe_text, $cafe_up, 'decoded and upgraded caf\x{e9} are the same text' );

subtest 'text values go out as UTF-8' => sub {
    for my $i ( 0 .. $#texts ) {
        my $k = "$base:v:$i";
        push @cleanup, $k;
        is( $redis->set( $k, $texts[$i] )->get, 'OK', "SET $names[$i]" );
        utf8_of( $redis->get($k)->get, $texts[$i], "GET $names[$i]" );
        is(
            $redis->strlen($k)->get,
            length encode_utf8( $texts[$i] ),
            "$names[$i]: STRLEN counts UTF-8 bytes"
        );
    }
    is( $redis->strlen("$base:v:0")->get, 5, 'caf\x{e9} is 5 bytes' );
    is( $redis->strlen("$base:v:4")->get, 3, '\x{263a} is 3 bytes' );
    is( $redis->strlen("$base:v:5")->get, 4, '\x{1F600} is 4 bytes' );
};

subtest 'Latin-1 bytes and Latin-1 text are different values' => sub {
    my ( $kb, $kt ) = ( "$base:latin1:bytes", "$base:latin1:text" );
    push @cleanup, $kb, $kt;
    $redis->set( $kb, $cafe_bytes )->get;
    $redis->set( $kt, $cafe_up )->get;
    FIORTest::bytes_are( $redis->get($kb)->get, "caf\xe9",     'the byte string: one byte \xe9' );
    FIORTest::bytes_are( $redis->get($kt)->get, "caf\xc3\xa9", 'the text: \xc3\xa9' );
    is( $redis->strlen($kb)->get, 4, 'STRLEN 4 for the bytes' );
    is( $redis->strlen($kt)->get, 5, 'STRLEN 5 for the text' );
    isnt( $redis->get($kb)->get, $redis->get($kt)->get, 'the stored values differ' );
    is( $redis->command( 'SETRANGE', $kb, 3, upgraded("\xe9") )->get,
        5, 'SETRANGE with text writes its two bytes' );
    FIORTest::bytes_are( $redis->get($kb)->get, "caf\xc3\xa9", 'now it equals the text' );
};

subtest 'text keys' => sub {
    my $kb = "$base:k:caf\xe9";             # bytes
    my $kt = "$base:k:" . $cafe_text;       # text (the concatenation is flagged)
    my $kw = "$base:k:\x{263a}\x{1F600}";
    ok( !utf8::is_utf8($kb) && utf8::is_utf8($kt) && utf8::is_utf8($kw), 'flags as meant' );
    push @cleanup, $kb, $kt, $kw;
    $redis->set( $kb, 'bytes' )->get;
    $redis->set( $kt, 'text' )->get;
    $redis->set( $kw, 'wide' )->get;
    is( $redis->get($kb)->get,                'bytes', 'the byte key has its value' );
    is( $redis->get($kt)->get,                'text',  'the text key has its own' );
    is( $redis->get( encode_utf8($kt) )->get, 'text',  'the text key is its UTF-8 bytes' );
    is( $redis->get( encode_utf8($kw) )->get, 'wide',  'so is the wide one' );
    is(
        FIORTest::hex_of( sort @{ $redis->keys("$base:k:*")->get } ),
        FIORTest::hex_of(
            sort "$base:k:caf\xe9", "$base:k:caf\xc3\xa9",
            "$base:k:\xe2\x98\xba\xf0\x9f\x98\x80"
        ),
        'KEYS: the stored names are the bytes'
    );
    is( $redis->exists( $kb, $kt, $kw )->get, 3, 'three distinct keys' );
    my $renamed = "$base:k:renamed:\x{263a}";
    push @cleanup, $renamed;
    is( $redis->rename( $kw, $renamed )->get,             'OK',   'RENAME to a text key' );
    is( $redis->get("$base:k:renamed:\xe2\x98\xba")->get, 'wide', 'stored as UTF-8' );
};

subtest 'text hash fields' => sub {
    my $h = "$base:hash";
    push @cleanup, $h;
    is(
        $redis->hset(
            $h,
            "\x{263a}"        => "\x{1F600}",
            $cafe_up          => 'field as text',
            $cafe_bytes       => 'field as bytes',
            "\xff"            => upgraded("\xe9"),
            upgraded('ascii') => upgraded("\x00\xe9")
        )->get,
        5,
        'HSET: five distinct fields'
    );
    utf8_of( $redis->hget( $h, "\x{263a}" )->get,     "\x{1F600}", 'HGET by the text field' );
    utf8_of( $redis->hget( $h, "\xe2\x98\xba" )->get, "\x{1F600}", 'HGET by its bytes' );
    is( $redis->hget( $h, $cafe_up )->get,    'field as text',  'the text field' );
    is( $redis->hget( $h, $cafe_bytes )->get, 'field as bytes', 'the byte field' );
    my $all = $redis->hgetall($h)->get;
    is( [ grep { utf8::is_utf8($_) } %$all ], [], 'HGETALL: bytes only' );
    is(
        { map { unpack( 'H*', $_ ) => unpack( 'H*', $all->{$_} ) } keys %$all },
        {
            map { unpack( 'H*', $_->[0] ) => unpack( 'H*', $_->[1] ) } (
                [ "\xe2\x98\xba", "\xf0\x9f\x98\x80" ],
                [ "caf\xc3\xa9",  'field as text' ],
                [ "caf\xe9",      'field as bytes' ],
                [ "\xff",         "\xc3\xa9" ],
                [ 'ascii',        "\x00\xc3\xa9" ],
            )
        },
        'HGETALL: fields and values as UTF-8 bytes, the byte ones untouched'
    );
};

subtest 'text beside bytes in one command' => sub {
    my @k = map { "$base:m:$_" } 1 .. 6;
    push @cleanup, @k;
    my @v = ( 'ascii', "\x{263a}", "\xe9", $cafe_up, "\x{1F600}\x00", "\xff\xfe" );
    my @want
        = ( 'ascii', "\xe2\x98\xba", "\xe9", "caf\xc3\xa9", "\xf0\x9f\x98\x80\x00", "\xff\xfe" );
    is( $redis->mset( map { ( $k[$_], $v[$_] ) } 0 .. $#k )->get, 'OK', 'MSET' );
    my $got = $redis->mget(@k)->get;
    is( [ grep { utf8::is_utf8($_) } @$got ], [], 'MGET: bytes only' );
    is( FIORTest::hex_of(@$got), FIORTest::hex_of(@want),
        'MGET: text as UTF-8, bytes byte for byte' );

    my $l = "$base:list";
    push @cleanup, $l;
    is( $redis->rpush( $l, @v )->get, 6, 'RPUSH' );
    is( FIORTest::hex_of( @{ $redis->lrange( $l, 0, -1 )->get } ),
        FIORTest::hex_of(@want), 'LRANGE' );

    my $h = "$base:mixed-hash";
    push @cleanup, $h;
    $redis->hset( $h, map { ( "f$_" => $v[$_] ) } 0 .. $#v )->get;
    is( FIORTest::hex_of( @{ $redis->hmget( $h, map { "f$_" } 0 .. $#v )->get } ),
        FIORTest::hex_of(@want), 'HSET / HMGET' );

    # The command name itself may be text.
    my $k = "$base:m:cmd";
    push @cleanup, $k;
    is( $redis->command( upgraded('SET'), $k, "\x{263a}" )->get, 'OK', 'a text command name' );
    FIORTest::bytes_are( $redis->get($k)->get, "\xe2\x98\xba", 'and its text value' );
};

subtest 'an object that stringifies to text' => sub {
    my $k   = "$base:obj:\x{263a}";
    my $obj = bless { s => "\x{1F600}" }, 'Stringy';
    push @cleanup, $k;
    is( $redis->set( bless( { s => $k }, 'Stringy' ), $obj )->get, 'OK', 'SET' );
    FIORTest::bytes_are( $redis->get( encode_utf8($k) )->get,
        "\xf0\x9f\x98\x80", 'key and value as UTF-8' );
};

# prefix => what the prefix is, key => the key, raw => the key's bytes on the server.
my @prefixed = (
    {
        name   => 'ASCII prefix, text key',
        prefix => 'app:',
        key    => "$base:p1:\x{263a}",
        raw    => "app:$base:p1:\xe2\x98\xba",
    },
    {
        name   => 'text prefix, text key',
        prefix => upgraded("pr\xe9:"),
        key    => "$base:p2:" . $cafe_text,
        raw    => "pr\xc3\xa9:$base:p2:caf\xc3\xa9",
    },
    {
        name   => 'text prefix, byte key (not encoded twice)',
        prefix => upgraded("pr\xe9:"),
        key    => "$base:p3:\xe9\xff\x00",
        raw    => "pr\xc3\xa9:$base:p3:\xe9\xff\x00",
    },
    {
        name   => 'text prefix, Latin-1 byte key',
        prefix => upgraded("pr\xe9:"),
        key    => "$base:p4:caf\xe9",
        raw    => "pr\xc3\xa9:$base:p4:caf\xe9",
    },
    {
        name   => 'byte prefix, text key (the prefix not upgraded)',
        prefix => "\xff\xe9:",
        key    => "$base:p5:\x{1F600}",
        raw    => "\xff\xe9:$base:p5:\xf0\x9f\x98\x80",
    },
    {
        name   => 'wide prefix, byte key',
        prefix => "\x{263a}:",
        key    => "$base:p6:\xff",
        raw    => "\xe2\x98\xba:$base:p6:\xff",
    },
);

for my $case (@prefixed) {
    subtest "prefix: $case->{name}" => sub {
        my ( $prefix, $key, $raw ) = @$case{qw(prefix key raw)};
        my $client = Future::IO::Redis->new( %$srv, prefix => $prefix );
        $client->connect->get;
        push @cleanup, $raw, "$raw:h", "$raw:2";

        is( $client->set( $key, "\x{263a}" )->get, 'OK', 'SET through the prefix' );
        FIORTest::bytes_are( $client->get($key)->get, "\xe2\x98\xba", 'GET through the prefix' );
        FIORTest::bytes_are( $redis->get($raw)->get,
            "\xe2\x98\xba", 'read raw: the key is the prefix bytes then the key bytes' );
        my $pattern = substr( $raw, 0, length($raw) - 1 ) . '*';
        is( FIORTest::hex_of( @{ $redis->keys($pattern)->get } ),
            FIORTest::hex_of($raw), 'KEYS: exactly that key, no other encoding of it' );

        is( $client->mset( $key => "\xe9", "$key:2" => upgraded("\xe9") )->get,
            'OK', 'MSET through the prefix' );
        is(
            FIORTest::hex_of( @{ $redis->mget( $raw, "$raw:2" )->get } ),
            FIORTest::hex_of( "\xe9", "\xc3\xa9" ),
            'read raw: values as sent, keys prefixed'
        );
        is( $client->hset( "$key:h", "\x{263a}" => $cafe_bytes )->get, 1, 'HSET' );
        is(
            FIORTest::hex_of( %{ $redis->hgetall("$raw:h")->get } ),
            FIORTest::hex_of( "\xe2\x98\xba", "caf\xe9" ),
            'read raw: the field is not prefixed'
        );
        is( $client->del( $key, "$key:h", "$key:2" )->get,   3, 'DEL through the prefix' );
        is( $redis->exists( $raw, "$raw:h", "$raw:2" )->get, 0, 'gone' );
        $client->disconnect;
    };
}

subtest 'text and byte Latin-1 keys under a text prefix are different keys' => sub {
    my $client = Future::IO::Redis->new( %$srv, prefix => upgraded("pr\xe9:") );
    my ( $kb, $kt ) = ( "$base:p7:caf\xe9", "$base:p7:" . $cafe_up );
    push @cleanup, "pr\xc3\xa9:$kb", "pr\xc3\xa9:" . encode_utf8($kt);
    $client->set( $kb, 'bytes' )->get;
    $client->set( $kt, 'text' )->get;
    is( $client->get($kb)->get, 'bytes', 'the byte key' );
    is( $client->get($kt)->get, 'text',  'the text key' );
    is(
        FIORTest::hex_of( sort @{ $redis->keys("pr\xc3\xa9:$base:p7:*")->get } ),
        FIORTest::hex_of( sort "pr\xc3\xa9:$base:p7:caf\xe9", "pr\xc3\xa9:$base:p7:caf\xc3\xa9" ),
        'stored as two keys'
    );
    $client->disconnect;
};

$redis->del(@cleanup)->get;
is( $redis->exists(@cleanup)->get, 0, 'cleaned up' );
$redis->disconnect;
done_testing;

package Stringy;
use overload '""' => sub { $_[0]{s} }, fallback => 1;
